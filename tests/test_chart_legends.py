"""Every kind of mark a chart draws is in its legend (the brown "above target" bars were not)."""

from __future__ import annotations

import re

from publishing.indicator_charts import progress_bars
from rota.fairness import OVER_KEY, FairnessRow, bar_chart


def row(doctor_id: int, name: str, load: int, target: float) -> FairnessRow:
    return FairnessRow(doctor_id, name, {"weekday": load}, {"weekday": target})


def test_fairness_chart_legend_names_the_bars_above_target():
    chart = bar_chart([row(1, "Dr Anne Richard", 6, 3.0), row(2, "Dr Élodie Laurent", 3, 3.0)])
    drawn = {"bar over" if b.over else "bar" for b in chart.bars} | {"target"}
    assert {css for css, _ in chart.legend} == drawn
    assert OVER_KEY in chart.legend


def test_fairness_chart_legend_lists_only_marks_drawn():
    chart = bar_chart([row(1, "Dr Anne Richard", 3, 3.0)])
    assert [css for css, _ in chart.legend] == ["bar", "target"]


def test_progress_chart_legend_names_reached_and_unreached_targets():
    chart = progress_bars([("Plages", 1.2, "120 %"), ("Actes", 0.5, "50 %")])
    assert [css for css, _ in chart.legend] == ["bar", "bar reached", "target"]


def test_period_page_draws_the_legend_of_its_chart(
    app, client, make_territory, make_site, make_practitioner, make_user, published_period
):
    from datetime import date, time

    from app.enums import Role
    from rota import scenarios
    from tests.helpers import log_in

    territory = make_territory()
    site = make_site(territory)
    make_practitioner(territory, family_name="Seul", site_ids=[site.id])
    make_practitioner(territory, family_name="Absent", site_ids=[])
    start = date(2027, 3, 1)
    period = published_period(
        territory,
        name="Semaine",
        start=start,
        end=date(2027, 3, 7),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
    )
    log_in(client, make_user(Role.COORDINATOR, territory).email)

    page = client.get(f"/coordination/periodes/{period.id}").get_data(as_text=True)
    legend = re.search(r'<ul class="chart-legend".*?</ul>', page, re.S)

    assert legend is not None
    for css in re.findall(r'class="(bar(?: over)?)"', page.split('<ul class="chart-legend"')[0]):
        assert f'class="{css}"' in legend[0]
    assert "Cible équitable" in legend[0]
