"""rota per-GP limits and commitment, swap approval

Revision ID: 725fc6d5b6ac
Revises: fc395a37ce74
Create Date: 2026-11-22 22:11:19.967556

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '725fc6d5b6ac'
down_revision = 'fc395a37ce74'
branch_labels = None
depends_on = None

OLD_STATUSES = ('open', 'accepted', 'cancelled')
NEW_STATUSES = ('open', 'pending', 'accepted', 'refused', 'cancelled')
OLD_SOURCES = ('volunteered', 'generated', 'manual', 'swapped')
NEW_SOURCES = (*OLD_SOURCES, 'bourse')


def _status_check(statuses, column='status'):
    return f'{column} IN (' + ', '.join(f"'{s}'" for s in statuses) + ')'


def _assignment_source(sources):
    with op.batch_alter_table('assignment', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint(op.f('ck_assignment_assignment_source'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_assignment_assignment_source'), _status_check(sources, 'source')
        )


def _swap_status(statuses, live_where):
    # The enum's CHECK and the partial unique index both name the statuses: replace them.
    # batch_alter_table recreates the table on SQLite (which can't alter a CHECK) and emits
    # plain ALTERs on PostgreSQL.
    op.drop_index('uq_swap_request_open_assignment', table_name='swap_request')
    with op.batch_alter_table('swap_request', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint(op.f('ck_swap_request_swap_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_swap_request_swap_status'), _status_check(statuses))
    op.create_index(
        'uq_swap_request_open_assignment', 'swap_request', ['assignment_id'], unique=True,
        sqlite_where=sa.text(live_where), postgresql_where=sa.text(live_where),
    )


def upgrade():
    with op.batch_alter_table('territory', schema=None) as batch_op:
        batch_op.add_column(sa.Column('swaps_need_approval', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('wish', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_per_day', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('max_per_period', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('target_sessions', sa.Integer(), nullable=True))
        # Alembic does not autogenerate CHECK constraints: written by hand.
        batch_op.create_check_constraint(
            op.f('ck_wish_max_per_day_range'), 'max_per_day >= 1 AND max_per_day <= 3'
        )
        batch_op.create_check_constraint(
            op.f('ck_wish_max_per_period_positive'), 'max_per_period IS NULL OR max_per_period >= 0'
        )
        batch_op.create_check_constraint(
            op.f('ck_wish_target_range'),
            'target_sessions IS NULL OR (target_sessions >= 0 AND target_sessions <= 100)',
        )
        batch_op.create_check_constraint(
            op.f('ck_wish_target_within_max'),
            'target_sessions IS NULL OR max_per_period IS NULL OR target_sessions <= max_per_period',
        )

    _swap_status(NEW_STATUSES, "status IN ('open', 'pending')")
    _assignment_source(NEW_SOURCES)
    with op.batch_alter_table('swap_request', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_swap_request_taken_when_pending'),
            "status <> 'pending' OR taken_by_id IS NOT NULL",
        )


def downgrade():
    op.execute(
        "UPDATE swap_request SET status = 'cancelled' WHERE status IN ('pending', 'refused')"
    )
    op.execute("UPDATE assignment SET source = 'manual' WHERE source = 'bourse'")
    _assignment_source(OLD_SOURCES)
    with op.batch_alter_table('swap_request', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_swap_request_taken_when_pending'), type_='check')
    _swap_status(OLD_STATUSES, "status = 'open'")

    with op.batch_alter_table('wish', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_wish_target_within_max'), type_='check')
        batch_op.drop_constraint(op.f('ck_wish_target_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_wish_max_per_period_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_wish_max_per_day_range'), type_='check')
        batch_op.drop_column('target_sessions')
        batch_op.drop_column('max_per_period')
        batch_op.drop_column('max_per_day')

    with op.batch_alter_table('territory', schema=None) as batch_op:
        batch_op.drop_column('swaps_need_approval')
