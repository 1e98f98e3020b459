"""The public availability page: where and when GPs see patients today or tomorrow.

No account, no names: patients learn whom to call (the 15, a pharmacy) for which site.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_login import current_user

from app.timeutil import format_local, now_utc
from booking import page_cache
from publishing import availability

bp = Blueprint("public", __name__)


@bp.get("/disponibilites")
def availability_page():
    """Anonymous answers are the same for everyone and set no cookie, so shared caches may
    keep them a minute; a logged-in visitor's page carries their account bar and is not."""
    now = now_utc()
    key = None
    if not current_user.is_authenticated:
        minute = now.replace(second=0, microsecond=0)
        key = (request.full_path, minute, page_cache.freshness_marker(now))
        body = page_cache.public_pages.get(key, now)
        if body is not None:
            return _shared(make_response(body))
    day_key = request.args.get("jour", "aujourdhui")
    try:
        page = availability.public_page(
            slug=request.args.get("cpts", "").strip()[:60],
            query=request.args.get("q", ""),
            day_key=day_key if day_key in availability.DAYS else "aujourdhui",
            commune_code=request.args.get("commune", ""),
            now=now,
        )
    except availability.UnknownTerritory:
        abort(404)
    if (found := page.single_match) is not None:
        where = url_for(".availability_page", cpts=found.territory.slug, commune=found.insee_code)
        return redirect(where)
    zone = page.territory.timezone if page.territory else "UTC"
    response = make_response(
        render_template(
            "publishing/public.html",
            **vars(page),
            clock=lambda value, fmt="%H:%M": format_local(value, zone, fmt),
            **availability.words(now, zone),
        )
    )
    if key is None or cookie_session.modified:
        response.headers["Cache-Control"] = "private, no-store"
        return response
    page_cache.public_pages.put(key, response.get_data(), now)
    return _shared(response)


def _shared(response: Response) -> Response:
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
