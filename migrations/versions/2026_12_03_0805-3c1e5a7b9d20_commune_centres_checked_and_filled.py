"""commune: centres checked (complete, in range) and filled from the shipped official data

Revision ID: 3c1e5a7b9d20
Revises: 97f6b1f91e04
Create Date: 2026-12-03 08:05:00

The ``latitude``/``longitude`` columns existed but nothing filled them. Communes added from
now on take the shipped centre (``app/data/communes.json.gz``); this fills the existing
ones that have none, so "nearest" works on databases created before.
"""

import sqlalchemy as sa
from alembic import op

from app import communes_ref

# revision identifiers, used by Alembic.
revision = "3c1e5a7b9d20"
down_revision = "97f6b1f91e04"
branch_labels = None
depends_on = None

commune = sa.table(
    "commune",
    sa.column("id", sa.Integer),
    sa.column("insee_code", sa.String),
    sa.column("latitude", sa.Double),
    sa.column("longitude", sa.Double),
)


def upgrade():
    connection = op.get_bind()
    # Clean what the new checks would refuse (never written by the app, but be safe).
    connection.execute(
        sa.update(commune)
        .where(
            sa.or_(
                commune.c.latitude.is_(None),
                commune.c.longitude.is_(None),
                commune.c.latitude < -90,
                commune.c.latitude > 90,
                commune.c.longitude < -180,
                commune.c.longitude > 180,
            )
        )
        .values(latitude=None, longitude=None)
    )
    rows = connection.execute(
        sa.select(commune.c.id, commune.c.insee_code).where(commune.c.latitude.is_(None))
    ).all()
    for commune_id, insee_code in rows:
        official = communes_ref.get(insee_code)
        if official is not None and official.latitude is not None:
            connection.execute(
                sa.update(commune)
                .where(commune.c.id == commune_id)
                .values(latitude=official.latitude, longitude=official.longitude)
            )
    with op.batch_alter_table("commune", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "centre_complete", "(latitude IS NULL) = (longitude IS NULL)"
        )
        batch_op.create_check_constraint(
            "latitude_range", "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)"
        )
        batch_op.create_check_constraint(
            "longitude_range", "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)"
        )


def downgrade():
    with op.batch_alter_table("commune", schema=None) as batch_op:
        batch_op.drop_constraint("longitude_range", type_="check")
        batch_op.drop_constraint("latitude_range", type_="check")
        batch_op.drop_constraint("centre_complete", type_="check")
