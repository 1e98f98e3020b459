"""indicators: bookings counted per site and local day (indicator_day, indicator_hour,
indicator_pharmacy), and the days to recount (indicator_change)

Existing bookings are counted on the first refresh: each territory with bookings gets a
change row naming every day (local_date NULL).

Revision ID: 656714a28da4
Revises: c4e8a2d6f1b3
Create Date: 2026-12-03 18:06:54.296453

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "656714a28da4"
down_revision = "c4e8a2d6f1b3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "indicator_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_indicator_change_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_change")),
    )
    with op.batch_alter_table("indicator_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_indicator_change_territory_id"), ["territory_id"], unique=False
        )

    op.create_table(
        "indicator_day",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sas_booked", sa.Integer(), nullable=False),
        sa.Column("sas_honoured", sa.Integer(), nullable=False),
        sa.Column("sas_no_show", sa.Integer(), nullable=False),
        sa.Column("sas_cancelled", sa.Integer(), nullable=False),
        sa.Column("sas_to_replace", sa.Integer(), nullable=False),
        sa.Column("pharmacy_booked", sa.Integer(), nullable=False),
        sa.Column("pharmacy_honoured", sa.Integer(), nullable=False),
        sa.Column("pharmacy_no_show", sa.Integer(), nullable=False),
        sa.Column("pharmacy_cancelled", sa.Integer(), nullable=False),
        sa.Column("pharmacy_to_replace", sa.Integer(), nullable=False),
        sa.Column("open_booked", sa.Integer(), nullable=False),
        sa.Column("open_honoured", sa.Integer(), nullable=False),
        sa.Column("open_no_show", sa.Integer(), nullable=False),
        sa.Column("open_cancelled", sa.Integer(), nullable=False),
        sa.Column("open_to_replace", sa.Integer(), nullable=False),
        sa.Column("without_gp", sa.Integer(), nullable=False),
        sa.Column("same_day", sa.Integer(), nullable=False),
        sa.Column("within_24h", sa.Integer(), nullable=False),
        sa.Column("within_48h", sa.Integer(), nullable=False),
        sa.Column("commune_inside", sa.Integer(), nullable=False),
        sa.Column("commune_outside", sa.Integer(), nullable=False),
        sa.Column("commune_unknown", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "commune_inside >= 0", name=op.f("ck_indicator_day_commune_inside_counted")
        ),
        sa.CheckConstraint(
            "commune_outside >= 0", name=op.f("ck_indicator_day_commune_outside_counted")
        ),
        sa.CheckConstraint(
            "commune_unknown >= 0", name=op.f("ck_indicator_day_commune_unknown_counted")
        ),
        sa.CheckConstraint("open_booked >= 0", name=op.f("ck_indicator_day_open_booked_counted")),
        sa.CheckConstraint(
            "open_cancelled >= 0", name=op.f("ck_indicator_day_open_cancelled_counted")
        ),
        sa.CheckConstraint(
            "open_honoured >= 0", name=op.f("ck_indicator_day_open_honoured_counted")
        ),
        sa.CheckConstraint("open_no_show >= 0", name=op.f("ck_indicator_day_open_no_show_counted")),
        sa.CheckConstraint(
            "open_to_replace >= 0", name=op.f("ck_indicator_day_open_to_replace_counted")
        ),
        sa.CheckConstraint(
            "pharmacy_booked >= 0", name=op.f("ck_indicator_day_pharmacy_booked_counted")
        ),
        sa.CheckConstraint(
            "pharmacy_cancelled >= 0", name=op.f("ck_indicator_day_pharmacy_cancelled_counted")
        ),
        sa.CheckConstraint(
            "pharmacy_honoured >= 0", name=op.f("ck_indicator_day_pharmacy_honoured_counted")
        ),
        sa.CheckConstraint(
            "pharmacy_no_show >= 0", name=op.f("ck_indicator_day_pharmacy_no_show_counted")
        ),
        sa.CheckConstraint(
            "pharmacy_to_replace >= 0", name=op.f("ck_indicator_day_pharmacy_to_replace_counted")
        ),
        sa.CheckConstraint("same_day >= 0", name=op.f("ck_indicator_day_same_day_counted")),
        sa.CheckConstraint("sas_booked >= 0", name=op.f("ck_indicator_day_sas_booked_counted")),
        sa.CheckConstraint(
            "sas_cancelled >= 0", name=op.f("ck_indicator_day_sas_cancelled_counted")
        ),
        sa.CheckConstraint("sas_honoured >= 0", name=op.f("ck_indicator_day_sas_honoured_counted")),
        sa.CheckConstraint("sas_no_show >= 0", name=op.f("ck_indicator_day_sas_no_show_counted")),
        sa.CheckConstraint(
            "sas_to_replace >= 0", name=op.f("ck_indicator_day_sas_to_replace_counted")
        ),
        sa.CheckConstraint("within_24h >= 0", name=op.f("ck_indicator_day_within_24h_counted")),
        sa.CheckConstraint("within_48h >= 0", name=op.f("ck_indicator_day_within_48h_counted")),
        sa.CheckConstraint("without_gp >= 0", name=op.f("ck_indicator_day_without_gp_counted")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_indicator_day_site_id_site"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_indicator_day_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "territory_id", "local_date", "site_id", name=op.f("pk_indicator_day")
        ),
    )
    op.create_table(
        "indicator_hour",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.CheckConstraint("hour >= 0 AND hour <= 23", name=op.f("ck_indicator_hour_hour_of_day")),
        sa.CheckConstraint("live > 0", name=op.f("ck_indicator_hour_live_counted")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
            name=op.f("fk_indicator_hour_site_id_site"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_indicator_hour_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "territory_id", "local_date", "hour", "site_id", name=op.f("pk_indicator_hour")
        ),
    )
    op.create_table(
        "indicator_pharmacy",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
            name=op.f("fk_indicator_pharmacy_site_id_site"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_indicator_pharmacy_territory_id_territory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_indicator_pharmacy_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "territory_id", "local_date", "site_id", "user_id", name=op.f("pk_indicator_pharmacy")
        ),
    )
    op.execute(
        "INSERT INTO indicator_change (territory_id) "
        "SELECT DISTINCT territory_id FROM booking"
    )


def downgrade():
    op.drop_table("indicator_pharmacy")
    op.drop_table("indicator_hour")
    op.drop_table("indicator_day")
    with op.batch_alter_table("indicator_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indicator_change_territory_id"))

    op.drop_table("indicator_change")
