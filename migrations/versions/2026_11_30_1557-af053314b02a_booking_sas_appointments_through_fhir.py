"""booking: SAS appointments through FHIR (external identifier, operator, no patient identity)

Revision ID: af053314b02a
Revises: 8c675e3a662d
Create Date: 2026-11-30 15:57:03.307228

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "af053314b02a"
down_revision = "8c675e3a662d"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('booked', 'honoured', 'no_show', 'to_replace')")
OLD_PATIENT = (
    "purged_at IS NOT NULL OR (family_name IS NOT NULL AND given_name IS NOT NULL "
    "AND birth_date IS NOT NULL AND phone IS NOT NULL)"
)
NEW_PATIENT = (
    "purged_at IS NOT NULL OR external_id IS NOT NULL OR (family_name IS NOT NULL "
    "AND given_name IS NOT NULL AND birth_date IS NOT NULL AND phone IS NOT NULL)"
)
PAIR = (
    "(external_system IS NULL AND external_id IS NULL) "
    "OR (external_system IS NOT NULL AND external_id IS NOT NULL)"
)


def upgrade():
    # SQLite rebuilds the table in batch mode: the partial unique index is dropped first
    # and created again after, so its WHERE clause can't be lost on the way.
    op.drop_index(
        "uq_booking_live_slot", table_name="booking", sqlite_where=LIVE, postgresql_where=LIVE
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_system", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("operator", sa.String(length=250), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_booking_patient_until_purged"), type_="check")
        batch_op.create_check_constraint("patient_until_purged", NEW_PATIENT)
        batch_op.create_check_constraint("external_pair", PAIR)
        batch_op.create_unique_constraint(
            batch_op.f("uq_booking_territory_id_external_system_external_id"),
            ["territory_id", "external_system", "external_id"],
        )
    op.create_index(
        "uq_booking_live_slot",
        "booking",
        ["session_id", "seat", "slot_index"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade():
    op.drop_index(
        "uq_booking_live_slot", table_name="booking", sqlite_where=LIVE, postgresql_where=LIVE
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_booking_territory_id_external_system_external_id"), type_="unique"
        )
        batch_op.drop_constraint(batch_op.f("ck_booking_external_pair"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_booking_patient_until_purged"), type_="check")
        batch_op.create_check_constraint("patient_until_purged", OLD_PATIENT)
        batch_op.drop_column("operator")
        batch_op.drop_column("external_id")
        batch_op.drop_column("external_system")
    op.create_index(
        "uq_booking_live_slot",
        "booking",
        ["session_id", "seat", "slot_index"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
