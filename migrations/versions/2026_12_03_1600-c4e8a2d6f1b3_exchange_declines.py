"""rota: a colleague may decline an exchange proposal (exchange_decline)

Revision ID: c4e8a2d6f1b3
Revises: 6b3d9e2f4a18
Create Date: 2026-12-03 16:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c4e8a2d6f1b3"
down_revision = "6b3d9e2f4a18"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "exchange_decline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["exchange_proposal.id"],
            name=op.f("fk_exchange_decline_proposal_id_exchange_proposal"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_exchange_decline_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_decline")),
        sa.UniqueConstraint(
            "proposal_id",
            "practitioner_id",
            name=op.f("uq_exchange_decline_proposal_id_practitioner_id"),
        ),
    )
    op.create_index(
        op.f("ix_exchange_decline_practitioner_id"),
        "exchange_decline",
        ["practitioner_id"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_exchange_decline_practitioner_id"), table_name="exchange_decline")
    op.drop_table("exchange_decline")
