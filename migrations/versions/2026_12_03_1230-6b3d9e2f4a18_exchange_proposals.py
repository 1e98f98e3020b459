"""rota: exchange proposals (two-way swaps) and their counterpart sessions

Revision ID: 6b3d9e2f4a18
Revises: b7d3e9a1c5f2
Create Date: 2026-12-03 12:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "6b3d9e2f4a18"
down_revision = "b7d3e9a1c5f2"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('open', 'pending')")


def upgrade():
    op.create_table(
        "exchange_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("from_practitioner_id", sa.Integer(), nullable=False),
        sa.Column("any_in_month", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "pending",
                "accepted",
                "refused",
                "cancelled",
                name="exchange_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("taken_by_id", sa.Integer(), nullable=True),
        sa.Column("counterpart_assignment_id", sa.Integer(), nullable=True),
        sa.Column("counterpart_session_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status NOT IN ('pending', 'accepted') OR taken_by_id IS NOT NULL",
            name=op.f("ck_exchange_proposal_taken_when_chosen"),
        ),
        sa.CheckConstraint(
            "taken_by_id IS NULL OR taken_by_id <> from_practitioner_id",
            name=op.f("ck_exchange_proposal_not_with_self"),
        ),
        sa.CheckConstraint(
            "counterpart_session_id IS NULL OR counterpart_session_id <> session_id",
            name=op.f("ck_exchange_proposal_two_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
            name=op.f("fk_exchange_proposal_assignment_id_assignment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_assignment_id"],
            ["assignment.id"],
            name=op.f("fk_exchange_proposal_counterpart_assignment_id_assignment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_session_id"],
            ["snp_session.id"],
            name=op.f("fk_exchange_proposal_counterpart_session_id_snp_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["from_practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_exchange_proposal_from_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["snp_session.id"],
            name=op.f("fk_exchange_proposal_session_id_snp_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"],
            ["practitioner.id"],
            name=op.f("fk_exchange_proposal_taken_by_id_practitioner"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_exchange_proposal_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_proposal")),
    )
    with op.batch_alter_table("exchange_proposal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_proposal_from_practitioner_id"),
            ["from_practitioner_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_exchange_proposal_territory_id"), ["territory_id"], unique=False
        )
        batch_op.create_index(
            "uq_exchange_proposal_live_assignment",
            ["assignment_id"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )

    op.create_table(
        "exchange_counterpart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
            name=op.f("fk_exchange_counterpart_assignment_id_assignment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_exchange_counterpart_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["exchange_proposal.id"],
            name=op.f("fk_exchange_counterpart_proposal_id_exchange_proposal"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["snp_session.id"],
            name=op.f("fk_exchange_counterpart_session_id_snp_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_counterpart")),
        sa.UniqueConstraint(
            "proposal_id",
            "assignment_id",
            name=op.f("uq_exchange_counterpart_proposal_id_assignment_id"),
        ),
    )
    with op.batch_alter_table("exchange_counterpart", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_counterpart_practitioner_id"), ["practitioner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_exchange_counterpart_proposal_id"), ["proposal_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("exchange_counterpart", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_counterpart_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_exchange_counterpart_practitioner_id"))
    op.drop_table("exchange_counterpart")
    with op.batch_alter_table("exchange_proposal", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_exchange_proposal_live_assignment", sqlite_where=LIVE, postgresql_where=LIVE
        )
        batch_op.drop_index(batch_op.f("ix_exchange_proposal_territory_id"))
        batch_op.drop_index(batch_op.f("ix_exchange_proposal_from_practitioner_id"))
    op.drop_table("exchange_proposal")
