"""territory setting: an absence declared on a rostered day is refused or "à remplacer"

Revision ID: b7d3e9a1c5f2
Revises: 4b7e2d9a6c15
Create Date: 2026-12-03 12:30:00

Existing territories keep today's strictest answer once the check exists: refused.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d3e9a1c5f2"
down_revision = "4b7e2d9a6c15"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN, never a batch copy: on SQLite, recreating "territory" drops the
    # old table, and with foreign keys on that deletes every row referencing it in
    # cascade (the regulation services' territories were lost that way).
    op.add_column(
        "territory",
        sa.Column(
            "absence_on_duty_to_replace",
            sa.Boolean(),
            server_default=sa.false(),
            nullable=False,
        ),
    )


def downgrade():
    op.drop_column("territory", "absence_on_duty_to_replace")
