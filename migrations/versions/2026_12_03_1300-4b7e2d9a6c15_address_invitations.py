"""address invitations: inviting an address held by an account of another territory

Revision ID: 4b7e2d9a6c15
Revises: b7c3d9e2f1a4
Create Date: 2026-12-03 13:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "4b7e2d9a6c15"
down_revision = "b7c3d9e2f1a4"
branch_labels = None
depends_on = None

ROLES = ("admin", "coordinator", "gp", "regulator", "pharmacist")


def upgrade():
    op.create_table(
        "address_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "role",
            sa.Enum(*ROLES, name="address_invitation_role", native_enum=False, length=24,
                    create_constraint=True),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_address_invitation_email_lowercase")),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"],
            name=op.f("fk_address_invitation_territory_id_territory"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_invitation")),
        sa.UniqueConstraint("territory_id", "email", name=op.f("uq_address_invitation_territory_id_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_address_invitation_token_hash")),
    )
    with op.batch_alter_table("address_invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_invitation_territory_id"), ["territory_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("address_invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_invitation_territory_id"))
    op.drop_table("address_invitation")
