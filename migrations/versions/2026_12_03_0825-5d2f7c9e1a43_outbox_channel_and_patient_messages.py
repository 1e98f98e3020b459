"""outbox: channel (e-mail or SMS), booking and purge date of patients' messages

Revision ID: 5d2f7c9e1a43
Revises: 3c1e5a7b9d20
Create Date: 2026-12-03 08:25:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "5d2f7c9e1a43"
down_revision = "3c1e5a7b9d20"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel",
                sa.Enum(
                    "email",
                    "sms",
                    name="outbox_channel",
                    native_enum=False,
                    create_constraint=True,
                    length=8,
                ),
                server_default="email",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("booking_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_message_booking_id"), ["booking_id"])
        batch_op.create_index(batch_op.f("ix_outbox_message_purge_after"), ["purge_after"])
        batch_op.create_check_constraint(
            "purge_needs_booking", "purge_after IS NULL OR booking_id IS NOT NULL"
        )


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("purge_needs_booking", type_="check")
        batch_op.drop_constraint("outbox_channel", type_="check")
        batch_op.drop_index(batch_op.f("ix_outbox_message_purge_after"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_booking_id"))
        batch_op.drop_column("purge_after")
        batch_op.drop_column("booking_id")
        batch_op.drop_column("channel")
