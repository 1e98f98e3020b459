"""The coordinator's indicators: page, charts, contract targets, exports; and the JSON API.

Every page and file reads one ``publishing.indicators.compute`` result, so the page, the
CSV, the XLSX, the printable page, the CLI and ``GET /api/v1/indicators`` carry the same
figures.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from app.enums import Role
from app.extensions import db
from app.models import Territory
from app.security import roles_required
from app.timeutil import local, now_utc
from app.validators import ValidationError
from app.web import attempt, current_territory
from booking.api_access import api_rate_limit
from booking.services import BookingError
from publishing import indicator_charts as charts
from publishing import indicator_exports as exports
from publishing import indicator_forms as forms
from publishing import indicator_targets as targets
from publishing import indicators

bp = Blueprint("indicators", __name__)

coordinator_only = roles_required(Role.COORDINATOR)
STATUS_PARTS = (
    ("honoured", "seg-honoured", "honorés"),
    ("no_show", "seg-no-show", "absents"),
    ("booked", "seg-booked", "réservés"),
    ("to_replace", "seg-replace", "à replacer"),
    ("cancelled", "seg-cancelled", "annulés"),
)


def _today(territory: Territory) -> date:
    return local(now_utc(), territory.timezone).date()


def _site(territory: Territory, raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ValidationError("Lieu inconnu.")
    site_id = int(raw)
    if site_id not in dict(indicators.site_choices(territory.id)):
        raise ValidationError("Lieu inconnu.")
    return site_id


def _asked(territory: Territory) -> tuple[date, date, int | None, str | None]:
    """The period and site of the query string, or this month with the French reason why."""
    today = _today(territory)
    try:
        start, end = forms.resolve_period(request.args.get("du"), request.args.get("au"), today)
        return start, end, _site(territory, request.args.get("lieu")), None
    except ValidationError as exc:
        first = forms.presets(today)[0]
        return first.start, first.end, None, str(exc)


def _charts(result: indicators.Indicators) -> dict[str, object]:
    f = result.figures
    channel_rows = [
        (
            indicators.CHANNEL_LABELS[c],
            [
                (css, label, int(f[f"activity.bookings.{c}.{key}"] or 0))
                for key, css, label in STATUS_PARTS
            ],
        )
        for c in indicators.CHANNELS
    ]
    return {
        "channels": charts.stacked_bars(channel_rows),
        "weekly": charts.columns([(w.week[-3:], w.bookings, w.honoured) for w in result.weekly]),
        "heat": charts.heat_map(result.heatmap, indicators.WEEKDAYS),
    }


@bp.get("/coordination/indicateurs")
@coordinator_only
def page():
    """The SNP indicators of a period, with charts and their tables."""
    territory = current_territory()
    start, end, site_id, error = _asked(territory)
    if error:
        flash(error, "error")
    result = indicators.cached(territory, start, end, site_id=site_id)
    return render_template(
        "publishing/indicators.html",
        result=result,
        figures=indicators.FIGURES,
        charts=_charts(result),
        parts=STATUS_PARTS,
        presets=forms.presets(_today(territory)),
        sites=indicators.site_choices(territory.id),
        query={"du": start.isoformat(), "au": end.isoformat(), "lieu": site_id or ""},
    )


@bp.get("/coordination/indicateurs/impression")
@coordinator_only
def print_page():
    """One A4 page per group for the annual review (counts only)."""
    territory = current_territory()
    start, end, site_id, error = _asked(territory)
    if error:
        abort(400, error)
    result = indicators.cached(territory, start, end, site_id=site_id)
    return render_template(
        "publishing/indicators_print.html",
        result=result,
        sheets=exports.sheets(result),
        period=exports.period_label(result),
    )


def _download(body: bytes, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _indicators_file(fmt: str) -> Response:
    territory = current_territory()
    start, end, site_id, error = _asked(territory)
    if error:
        abort(400, error)
    result = indicators.cached(territory, start, end, site_id=site_id)
    name = f"indicateurs-{territory.slug}-{start.isoformat()}-{end.isoformat()}.{fmt}"
    if fmt == "csv":
        return _download(exports.indicators_csv(result), exports.CSV_MIMETYPE, name)
    return _download(exports.indicators_xlsx(result), exports.XLSX_MIMETYPE, name)


@bp.get("/coordination/indicateurs/export.csv")
@coordinator_only
def export_csv():
    """The indicators as CSV (UTF-8 BOM, ``;``, decimal comma)."""
    return _indicators_file("csv")


def _period_given() -> bool:
    return bool(request.args.get("du") and request.args.get("au"))


@bp.get("/coordination/indicateurs/export.xlsx")
@coordinator_only
def export_xlsx():
    """The indicators as XLSX, one sheet per group, with the definitions.

    A spreadsheet is for a chosen period: without one, the page, to choose it.
    """
    if not _period_given():
        flash("Choisissez la période du tableur, puis « Tableur (XLSX) ».", "info")
        return page()
    return _indicators_file("xlsx")


def _rota_file(fmt: str) -> Response:
    territory = current_territory()
    start, end, _, error = _asked(territory)
    if error:
        abort(400, error)
    lines = indicators.rota_lines(territory, start, end)
    name = f"tableau-{territory.slug}-{start.isoformat()}-{end.isoformat()}.{fmt}"
    if fmt == "csv":
        return _download(exports.rota_csv(lines), exports.CSV_MIMETYPE, name)
    title = f"{territory.name}, du {start:%d/%m/%Y} au {end:%d/%m/%Y}"
    return _download(exports.rota_xlsx(lines, title), exports.XLSX_MIMETYPE, name)


@bp.get("/coordination/tableau/export.csv")
@coordinator_only
def rota_csv():
    """The published rota of a period (site, date, hours, GP, RPPS) as CSV."""
    return _rota_file("csv")


@bp.get("/coordination/tableau/export.xlsx")
@coordinator_only
def rota_xlsx():
    """The published rota of a period as XLSX (a chosen period, as for the indicators)."""
    if not _period_given():
        flash("Choisissez la période du tableur, puis « Tableur (XLSX) ».", "info")
        return page()
    return _rota_file("xlsx")


# --- contract targets -----------------------------------------------------------------------


@bp.route("/coordination/indicateurs/objectifs", methods=["GET", "POST"])
@coordinator_only
def targets_page():
    """The contract's indicators, their yearly targets and the progress made."""
    territory = current_territory()
    form = forms.TargetForm()
    forms.figure_select(form, targets.figure_choices())
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: targets.create_target(
                territory,
                name=form.name.data or "",
                figure_key=form.figure_key.data or None,
                by=current_user,
            )
        )
        if ok:
            flash("Indicateur ajouté : indiquez maintenant sa cible par année.", "success")
            return redirect(url_for("indicators.targets_page"))
    rows = targets.progress(territory)
    chart = charts.progress_bars(
        [
            (
                f"{p.name} ({p.year})",
                p.ratio,
                "non renseigné" if p.ratio is None else figure_filter(p.ratio, "ratio"),
            )
            for p in rows
        ]
    )
    return render_template(
        "publishing/indicators_targets.html",
        form=form,
        year_form=forms.TargetYearForm(formdata=None, year=_today(territory).year),
        targets=targets.targets_of(territory.id),
        rows=rows,
        chart=chart,
        figures=indicators.FIGURES,
    )


def _posted_target():
    """The target named by the form's ``target_id``, of this territory, or ``None``."""
    raw = request.form.get("target_id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    return targets.target_in(current_user.territory_id, int(raw))


@bp.post("/coordination/indicateurs/objectifs/annee")
@coordinator_only
def set_year():
    """Set one contract year's target (and a manual indicator's value)."""
    target = _posted_target()
    if target is None:
        flash("Indicateur inconnu.", "error")
        return redirect(url_for("indicators.targets_page"))
    form = forms.TargetYearForm()
    if not form.validate():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return redirect(url_for("indicators.targets_page"))
    ok, _ = attempt(
        lambda: targets.set_target_year(
            target,
            year=int(form.year.data or 0),
            goal=float(form.goal.data or 0),
            manual_value=float(form.manual_value.data)
            if form.manual_value.data is not None
            else None,
            by=current_user,
        )
    )
    if ok:
        flash(f"Cible {form.year.data} enregistrée pour « {target.name} ».", "success")
    return redirect(url_for("indicators.targets_page"))


@bp.post("/coordination/indicateurs/objectifs/suppression")
@coordinator_only
def delete_target():
    """Remove a contract indicator and its yearly targets (CSRF checked by CSRFProtect)."""
    target = _posted_target()
    if target is None:
        flash("Indicateur inconnu.", "error")
        return redirect(url_for("indicators.targets_page"))
    ok, _ = attempt(lambda: targets.delete_target(target, by=current_user))
    if ok:
        flash("Indicateur supprimé.", "success")
    return redirect(url_for("indicators.targets_page"))


# --- JSON API --------------------------------------------------------------------------------
#
# ``GET /api/v1/indicators`` is one more operation of the JSON API: registered by
# ``publishing.init_app`` as the endpoint ``api.indicators``, it goes through the booking
# API's bearer authentication, rate limit, JSON errors and no-store header like the others,
# and is described in the same OpenAPI document.


@api_rate_limit
def api_indicators() -> Response:
    """The same figures as the page, as JSON: ``?from=YYYY-MM-DD&to=YYYY-MM-DD[&site=ID]``."""
    user = g.api_user
    if user.role != Role.COORDINATOR:
        raise BookingError(
            "Les indicateurs sont réservés à la coordination.", code="forbidden", status=403
        )
    territory = db.session.get(Territory, user.territory_id)
    assert territory is not None
    try:
        start, end = forms.resolve_period(
            request.args.get("from"), request.args.get("to"), _today(territory)
        )
        site_id = _site(territory, request.args.get("site"))
    except ValidationError as exc:
        raise BookingError(str(exc), code="invalid_query", status=400) from exc
    return jsonify(indicators.cached(territory, start, end, site_id=site_id).as_json())


# --- how figures read in French ------------------------------------------------------------------


@bp.app_template_filter("figure")
def figure_filter(value: float | int | None, unit: str = "nombre") -> str:
    """``1234`` → ``"1 234"``, ``0.4567`` (ratio) → ``"45,7 %"``, ``None`` → ``"—"``."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f} %".replace(".", ",")
    if isinstance(value, float) and value != int(value):
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{int(value):,}".replace(",", "\u202f")
