"""The client's real address behind reverse proxies (``TRUSTED_PROXIES``).

Behind nginx every request comes from nginx: without this, every per-address rate limit
(logins, feeds, bookings, the API without a token) would be one budget for the whole
platform. ``X-Forwarded-For`` is only believed from the proxies the operator declares,
as many hops as declared, counted from the right: a client can prepend what it likes,
the proxy appends the address it really saw.

``TRUSTED_PROXIES`` is either a number of proxies in front of the app (``1`` for one
nginx on the host; werkzeug's ``ProxyFix``), or a comma-separated list of addresses and
networks (``127.0.0.1, 10.0.0.0/8``): then the rightmost address of the chain that is not
one of them is the client, provided the peer itself is one of them. Empty or ``0``: no
proxy, the TCP peer is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxiesError(ValueError):
    """A ``TRUSTED_PROXIES`` the app can't read (it refuses to start: French message)."""


def parse_trusted_proxies(text: str | None) -> int | list[Network]:
    """A count of proxies, or the networks of the trusted proxies."""
    raw = (text or "").strip()
    if not raw:
        return 0
    if raw.isdigit():
        return int(raw)
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",")]
    except ValueError as exc:
        raise TrustedProxiesError(
            f"TRUSTED_PROXIES illisible : « {raw} » (un nombre de proxys, ou des adresses "
            "et réseaux séparés par des virgules, ex. 127.0.0.1, 10.0.0.0/8)."
        ) from exc


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class TrustedNetworksFix:
    """``REMOTE_ADDR`` (and the scheme) from the proxies of the given networks only."""

    def __init__(self, app: Callable[..., Any], networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = list(networks)

    def _trusted(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in net for net in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        if self._trusted(peer):
            chain = [
                hop.strip()
                for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")
                if hop.strip()
            ]
            client = peer
            while chain:
                hop = chain.pop()
                if _address(hop) is None:
                    break  # garbage in the chain: stop believing it, keep the last good hop
                client = hop
                if not self._trusted(hop):
                    break
            environ["werkzeug.proxy_fix.orig_remote_addr"] = peer
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def wrap(wsgi_app: Callable[..., Any], setting: str | None) -> Callable[..., Any]:
    trusted = parse_trusted_proxies(setting)
    if isinstance(trusted, int):
        return ProxyFix(wsgi_app, x_for=trusted, x_proto=trusted) if trusted else wsgi_app
    return TrustedNetworksFix(wsgi_app, trusted)
