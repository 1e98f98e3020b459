"""Calendar feeds over HTTP, and the pages to subscribe to them.

Feeds are fetched by calendar clients, without cookies: a GP's or the territory's by a
secret token in the URL, a site's publicly. Every answer carries a strong ETag computed
from the loaded data, so a client polling an unchanged feed gets a 304 without the
calendar ever being rendered. Each worker also remembers, for a minute, the ETag it
computed under the territory's change marker (``feeds.change_marker``): an unchanged feed
is then answered, 304 or full from the rendered bodies, without loading its data at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from app.collation import by_name
from app.confirmation import Confirmation, ask, is_confirmed
from app.enums import Role
from app.extensions import limiter
from app.models import Practitioner
from app.security import roles_required
from app.timeutil import now_utc
from app.urls import public_host, public_url
from app.web import attempt, current_territory
from publishing import feeds, ical
from publishing.forms import ALARM, ISSUE, NO_ALARM, REVOKE, FeedActionForm, alarm_label
from publishing.models import CalendarFeed

bp = Blueprint("feeds", __name__)

gp_only = roles_required(Role.GP)
coordinator_only = roles_required(Role.COORDINATOR)

# Clients poll hourly at most (REFRESH-INTERVAL); five minutes of private caching spares
# the server a burst of devices of the same GP without delaying a change much.
CACHE_CONTROL = "private, max-age=300"
DEFAULT_RATE_LIMIT = "120 per minute"
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024


class RenderedFeeds:
    """Feed bodies already rendered, by ETag (the same ETag means the same bytes).

    Calendar clients poll unchanged feeds all day, and not all of them send
    If-None-Match: without this each poll would render the whole calendar again, the
    costly part of an answer. Least recently used out first, bounded in bytes; one per
    worker process, so a change is rendered at most once per worker.
    """

    def __init__(self) -> None:
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, tag: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(tag)
            if body is not None:
                self._bodies.move_to_end(tag)
            return body

    def put(self, tag: str, body: bytes, *, limit: int) -> None:
        with self._lock:
            if tag in self._bodies or len(body) > limit:
                return
            self._bodies[tag] = body
            self._size += len(body)
            while self._size > limit:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)


rendered = RenderedFeeds()


class KnownTags:
    """(feed, change marker) → (ETag, Last-Modified) computed by this worker, for a minute.

    The marker changes with every audited change of the territory, so a hit means the
    data the tag was computed from has not changed since. The minute bounds the one case a
    marker can miss: two transactions committing in the other order than they took their
    audit ids. Clients may keep a feed five minutes anyway (``CACHE_CONTROL``).
    """

    TTL = timedelta(seconds=60)
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._tags: OrderedDict[tuple[object, ...], tuple[str, datetime | None, datetime]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...], now: datetime) -> tuple[str, datetime | None] | None:
        with self._lock:
            hit = self._tags.get(key)
            if hit is None or now - hit[2] > self.TTL:
                return None
            return hit[0], hit[1]

    def put(self, key: tuple[object, ...], tag: str, modified: datetime | None, now: datetime):
        with self._lock:
            self._tags[key] = (tag, modified, now)
            self._tags.move_to_end(key)
            while len(self._tags) > self.MAX_ENTRIES:
                self._tags.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._tags.clear()


known_tags = KnownTags()


def _rate_limit() -> str:
    """Per client address, shared by every feed URL: guessing tokens and polling sites
    draw on one budget. Google's fetchers poll from few addresses: keep it generous."""
    return current_app.config.get("ICAL_RATE_LIMIT", DEFAULT_RATE_LIMIT)


@bp.after_request
def _keep_addresses_private(response: Response) -> Response:
    """Feed URLs are secrets: never send them on as a Referer, never index them."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- feeds ----------------------------------------------------------------------------------------


def _links(*, gp: bool) -> feeds.Links:
    domain = current_app.config.get("ICAL_UID_DOMAIN") or public_host()
    if gp:
        return feeds.Links(
            uid_domain=domain,
            home=public_url("rota.my_sessions"),
            day=public_url("booking.gp_day"),
        )
    return feeds.Links(uid_domain=domain, home=public_url("public.availability_page"))


def _not_modified(tag: str, last_modified: datetime | None) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains_weak(tag)  # RFC 9110: weak comparison here
    since = request.if_modified_since
    return since is not None and last_modified is not None and last_modified <= since


def _calendar(
    key: tuple[object, ...],
    load: Callable[[], feeds.FeedSource],
    links: feeds.Links,
    filename: str,
) -> Response:
    """The feed's answer: 304, or the body (rendered at most once per worker and ETag).

    ``key`` names the feed and its territory's change marker; when this worker already
    computed the ETag under that key, the data is not loaded again.
    """
    now = now_utc()
    known = known_tags.get(key, now)
    source = None
    if known is None:
        source = load()
        last_modified = source.last_modified
        if last_modified is not None:
            last_modified = last_modified.replace(microsecond=0)
        tag = feeds.etag(source, links)
        known_tags.put(key, tag, last_modified, now)
    else:
        tag, last_modified = known
    if _not_modified(tag, last_modified):
        response = Response(status=304)
    else:
        body = rendered.get(tag)
        if body is None:
            source = source or load()
            body = ical.render(feeds.build(source, links))
            limit = current_app.config.get("ICAL_CACHE_BYTES", DEFAULT_CACHE_BYTES)
            rendered.put(tag, body, limit=limit)
        response = Response(body, mimetype="text/calendar")
        response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.set_etag(tag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@bp.get("/ical/<token>.ics")
@limiter.shared_limit(_rate_limit, scope="ical")
def token_feed(token: str):
    """A GP's feed, or the territory's, by its secret token; any other token: 404."""
    found = feeds.lookup_live_feed(token)
    if found is None:
        abort(404)
    links = _links(gp=found.for_gp)

    return _calendar(
        ("feed", found.id, found.marker, links),
        lambda: feeds.load_feed_by_id(found.id),
        links,
        "plages-snp.ics" if found.for_gp else "tableau-snp.ics",
    )


@bp.get("/ical/site/<int:site_id>.ics")
@limiter.shared_limit(_rate_limit, scope="ical")
def site_feed(site_id: int):
    """A site's public SNP hours (no GP names)."""
    marker = feeds.lookup_public_site(site_id)
    if marker is None:
        abort(404)
    links = _links(gp=False)

    def load() -> feeds.FeedSource:
        site = feeds.public_site(site_id)
        assert site is not None
        return feeds.load_site_feed(site)

    return _calendar(("site", site_id, marker, links), load, links, f"snp-lieu-{site_id}.ics")


# --- subscribe pages ------------------------------------------------------------------------------


def _addresses(endpoint: str, **values: object) -> dict[str, str]:
    """The https:// address and its webcal:// twin (which calendar apps open directly)."""
    https = public_url(endpoint, **values)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


def _qr_svg(text: str) -> str:
    """The address as an inline SVG QR code (no JavaScript, no image request)."""
    return segno.make(text, error="m").svg_inline(
        scale=4, title="QR code de l'adresse d'abonnement", svgclass="qr", lineclass="qr-line"
    )


def _me() -> Practitioner:
    practitioner = current_user.practitioner
    if practitioner is None or practitioner.territory_id != current_user.territory_id:
        abort(403)
    return practitioner


def _revoke(feed: CalendarFeed | None, endpoint: str, done: str) -> Response | str:
    """Revoke a feed address, once confirmed (``app.confirmation``): it can't come back."""
    if not is_confirmed():
        return ask(
            Confirmation(
                title="Révoquer l'adresse d'abonnement ?",
                consequences=(
                    "Les agendas abonnés à cette adresse ne recevront plus les plages ; "
                    "une adresse révoquée ne se réactive pas.",
                    "Aucun e-mail n'est envoyé.",
                ),
                button="Révoquer l'adresse",
                back_url=url_for(endpoint),
                carried={"action": REVOKE},
            )
        )
    ok, _ = attempt(lambda: feeds.revoke(feed, by=current_user))
    if ok:
        flash(done, "success")
    return redirect(url_for(endpoint))


def _still_mine(me: Practitioner, token: str | None) -> dict[str, str] | None:
    """The addresses of ``token`` if it is still my live feed's (the page that showed it
    sends it back with the reminder form, so saving the reminder doesn't lose it)."""
    feed = feeds.find_live_feed(token or "")
    if feed is None or feed.practitioner_id != me.id:
        return None
    return _addresses("feeds.token_feed", token=token) | {"token": token or ""}


def _save_alarm(me: Practitioner, form: FeedActionForm) -> dict[str, str] | None:
    """Save the reminder; answers the fresh address to show again, if the form carried it."""
    minutes = form.alarm_minutes
    ok, _ = attempt(lambda: feeds.set_alarm(me, minutes, by=current_user))
    if ok:
        flash(
            "Rappel enregistré : il apparaîtra à la prochaine mise à jour de votre agenda."
            if minutes is not None
            else "Rappel supprimé.",
            "success",
        )
    return _still_mine(me, form.address.data)


@bp.route("/mes-plages/agenda", methods=["GET", "POST"])
@gp_only
def gp_subscribe():
    """Subscribe my calendar to my sessions; a new address is shown right after, and again
    after saving the reminder from that page (never from a log: only its hash is stored)."""
    me = _me()
    feed = feeds.gp_feed(me)
    current = feed.alarm_minutes if feed is not None else None
    form = FeedActionForm(alarm=str(current) if current in feeds.ALARM_CHOICES else NO_ALARM)
    fresh = None
    if form.is_submitted():
        if not form.validate():
            flash("Action inconnue : rien n'a été modifié.", "error")
        elif form.action.data == ISSUE and feed is not None and feed.live and not form.confirmed:
            return redirect(url_for("feeds.gp_renew"))  # killing a live address: confirm first
        elif form.action.data == ISSUE:
            ok, token = attempt(lambda: feeds.issue_gp_token(me, by=current_user))
            if ok and token:
                fresh = _addresses("feeds.token_feed", token=token) | {"token": token}
        elif form.action.data == REVOKE:
            return _revoke(
                feed,
                "feeds.gp_subscribe",
                "Adresse révoquée : votre agenda ne recevra plus vos plages.",
            )
        elif form.action.data == ALARM:
            fresh = _save_alarm(me, form)
            if fresh is None:
                return redirect(url_for("feeds.gp_subscribe"))
        feed = feeds.gp_feed(me)
    return render_template(
        "feeds/gp.html",
        feed=feed,
        form=form,
        fresh=fresh,
        qr=_qr_svg(fresh["webcal"]) if fresh else None,
        alarm_label=alarm_label,
    )


@bp.get("/mes-plages/agenda/nouvelle-adresse")
@gp_only
def gp_renew():
    """Confirm before a new address kills the live one (a page, no JavaScript needed)."""
    feed = feeds.gp_feed(_me())
    live = feed if feed is not None and feed.live else None
    return render_template("feeds/gp_renew.html", feed=live, form=FeedActionForm())


@bp.route("/coordination/agenda", methods=["GET", "POST"])
@coordinator_only
def territory_subscribe():
    """The territory feed (coordination, Centre 15) and the sites' public feeds."""
    territory = current_territory()
    feed = feeds.territory_feed(territory)
    form = FeedActionForm()
    fresh = None
    if form.is_submitted():
        if not form.validate() or form.action.data == ALARM:
            flash("Action inconnue : rien n'a été modifié.", "error")
        elif form.action.data == ISSUE:
            ok, token = attempt(lambda: feeds.issue_territory_token(territory, by=current_user))
            if ok and token:
                fresh = _addresses("feeds.token_feed", token=token)
        elif form.action.data == REVOKE:
            return _revoke(feed, "feeds.territory_subscribe", "Adresse du tableau révoquée.")
        feed = feeds.territory_feed(territory)
    sites = [
        (site, _addresses("feeds.site_feed", site_id=site.id))
        for site in by_name(territory.sites)
        if site.active
    ]
    return render_template(
        "feeds/territory.html",
        territory=territory,
        feed=feed,
        form=form,
        fresh=fresh,
        qr=_qr_svg(fresh["webcal"]) if fresh else None,
        sites=sites,
    )
