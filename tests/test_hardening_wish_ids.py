"""Finding 11: several wish forms on one page have distinct field ids (labels point to
their own field, and a screen reader or a click on a label reaches the right form)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import sqlalchemy as sa
import time_machine

from app.extensions import db
from rota import services as rota_services
from rota.models import Wish
from tests.helpers import PASSWORD


def test_two_open_periods_give_two_forms_with_distinct_ids(booking_world, client):
    world = booking_world
    periods = []
    for month in (4, 5):
        period = rota_services.create_period(
            world.territory,
            name=f"Mois {month}",
            start_date=date(2027, month, 1),
            end_date=date(2027, month, 28),
            by=None,
        )
        rota_services.open_wishes(period, deadline=None, by=None)
        periods.append(period)
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        client.post("/connexion", data={"email": "gp@example.org", "password": PASSWORD})
        page = client.get("/mes-plages").get_data(as_text=True)
        ids = Counter(re.findall(r'\sid="([^"]+)"', page))
        assert page.count("Enregistrer mes souhaits") == 2
        assert [i for i, n in ids.items() if n > 1] == []
        for label_for in re.findall(r'<label for="([^"]+)"', page):
            assert label_for in ids, label_for
        # The second form's own names reach its own period.
        form = page.split(f'/periodes/{periods[1].id}/souhaits"', 1)[1].split("</form>", 1)[0]
        weight = re.search(r'<select[^>]*name="([^"]*weight)"', form)[1]
        per_day = re.search(r'<select[^>]*name="([^"]*max_per_day)"', form)[1]
        saved = client.post(
            f"/periodes/{periods[1].id}/souhaits", data={weight: "2.0", per_day: "1"}
        )
        assert saved.status_code == 302
    wish = db.session.scalar(sa.select(Wish).where(Wish.period_id == periods[1].id))
    assert wish is not None
    assert wish.weight == 2.0
