"""regulation services: desks attached to several territories; regulators move to them

Revision ID: 8e4a1b6c2f57
Revises: 5d2f7c9e1a43
Create Date: 2026-12-03 08:30:00

Data move: every territory that has regulators gets a service of its own ("Régulation
<territory name>"), attached to it, and its regulators join it. They keep their territory
for now (booking and search still read it), so nothing they see changes.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "8e4a1b6c2f57"
down_revision = "5d2f7c9e1a43"
branch_labels = None
depends_on = None

OLD_CHECK = "role = 'admin' OR territory_id IS NOT NULL"
NEW_CHECK = (
    "role = 'admin' OR territory_id IS NOT NULL "
    "OR (role = 'regulator' AND regulation_service_id IS NOT NULL)"
)


def upgrade():
    op.create_table(
        "regulation_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(name) >= 2", name=op.f("ck_regulation_service_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulation_service")),
        sa.UniqueConstraint("name", name=op.f("uq_regulation_service_name")),
    )
    op.create_table(
        "regulation_service_territory",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["regulation_service.id"],
            name=op.f("fk_regulation_service_territory_service_id_regulation_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_regulation_service_territory_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "territory_id", name=op.f("pk_regulation_service_territory")
        ),
    )
    with op.batch_alter_table("regulation_service_territory", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_regulation_service_territory_territory_id"), ["territory_id"]
        )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("regulation_service_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_user_account_regulation_service_id"), ["regulation_service_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_user_account_regulation_service_id_regulation_service"),
            "regulation_service",
            ["regulation_service_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.drop_constraint("territory_required", type_="check")
        batch_op.create_check_constraint("territory_required", NEW_CHECK)
        batch_op.create_check_constraint(
            "service_only_for_regulators", "regulation_service_id IS NULL OR role = 'regulator'"
        )
    _move_regulators()


def _move_regulators():
    connection = op.get_bind()
    territory = sa.table("territory", sa.column("id", sa.Integer), sa.column("name", sa.String))
    user = sa.table(
        "user_account",
        sa.column("id", sa.Integer),
        sa.column("role", sa.String),
        sa.column("territory_id", sa.Integer),
        sa.column("regulation_service_id", sa.Integer),
    )
    service = sa.table(
        "regulation_service",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    link = sa.table(
        "regulation_service_territory",
        sa.column("service_id", sa.Integer),
        sa.column("territory_id", sa.Integer),
    )
    rows = connection.execute(
        sa.select(territory.c.id, territory.c.name)
        .where(
            territory.c.id.in_(
                sa.select(user.c.territory_id).where(
                    user.c.role == "regulator", user.c.territory_id.is_not(None)
                )
            )
        )
        .order_by(territory.c.id)
    ).all()
    for territory_id, name in rows:
        service_name = f"Régulation {name}"[:120]
        service_id = connection.execute(
            sa.insert(service)
            .values(name=service_name, active=True, created_at=sa.func.now())
            .returning(service.c.id)
        ).scalar_one()
        connection.execute(sa.insert(link).values(service_id=service_id, territory_id=territory_id))
        connection.execute(
            sa.update(user)
            .where(user.c.role == "regulator", user.c.territory_id == territory_id)
            .values(regulation_service_id=service_id)
        )


def downgrade():
    # Regulators keep their territory throughout, so dropping the services loses nothing
    # they need; a regulator without one (created after the upgrade) cannot go back.
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint("service_only_for_regulators", type_="check")
        batch_op.drop_constraint("territory_required", type_="check")
        batch_op.create_check_constraint("territory_required", OLD_CHECK)
        batch_op.drop_constraint(
            batch_op.f("fk_user_account_regulation_service_id_regulation_service"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_user_account_regulation_service_id"))
        batch_op.drop_column("regulation_service_id")
    with op.batch_alter_table("regulation_service_territory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regulation_service_territory_territory_id"))
    op.drop_table("regulation_service_territory")
    op.drop_table("regulation_service")
