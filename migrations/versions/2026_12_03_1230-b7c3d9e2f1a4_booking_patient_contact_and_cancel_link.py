"""booking: the patient's contact (with consent), cancellation link, patient cancellation, reminder

Revision ID: b7c3d9e2f1a4
Revises: 8e4a1b6c2f57
Create Date: 2026-12-03 12:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7c3d9e2f1a4"
down_revision = "8e4a1b6c2f57"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("patient_mobile", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("contact_consent_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("patient_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "cancelled_by_patient", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_booking_patient_token_hash"), ["patient_token_hash"]
        )
        batch_op.create_check_constraint(
            "contact_needs_consent",
            "(patient_email IS NULL AND patient_mobile IS NULL) OR contact_consent_at IS NOT NULL",
        )


def downgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_constraint("contact_needs_consent", type_="check")
        batch_op.drop_constraint(batch_op.f("uq_booking_patient_token_hash"), type_="unique")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("cancelled_by_patient")
        batch_op.drop_column("patient_token_hash")
        batch_op.drop_column("contact_consent_at")
        batch_op.drop_column("patient_mobile")
        batch_op.drop_column("patient_email")
