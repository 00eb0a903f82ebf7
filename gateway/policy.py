"""What the gateway decides for every request, in both modes.

The embedded gateway (WSGI, in-process) and the distributed one (asyncio, proxying) differ
in how they hand a request on, not in what they decide: which route, which request id,
which client address, CORS, rate limits, body size, and the problem+json they answer
with themselves. All of that is here, free of any server.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from limits import RateLimitItem, parse_many

from services.common.config import env, env_int
from services.common.errors import PROBLEM_CONTENT_TYPE, PROBLEMS, problem_body
from services.common.i18n import LANGUAGE_COOKIE, negotiate_locale, translations_for

log = logging.getLogger("viche.gateway")

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded. Bytes, as the
# distributed gateway relays headers without decoding them.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Headers only services may set for each other; a client sending them is ignored.
INTERNAL_HEADER_PREFIX = b"x-viche-"
EXPOSED_HEADERS = "X-Request-ID, ETag, Location, Retry-After"
GATEWAY_HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class GatewaySettings:
    cors_origins: frozenset[str] = frozenset()
    rate_limits: tuple[RateLimitItem, ...] = ()
    max_body_bytes: int = 1024 * 1024
    upstream_timeout: float = 30.0
    connect_timeout: float = 2.0
    trusted_proxies: int = 0  # how many X-Forwarded-For hops in front of us to believe
    redis_url: str | None = None
    default_locale: str = "en"
    upstreams: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        vars_ = environ if environ is not None else os.environ
        origins = env("VICHE_CORS_ORIGINS", "", vars_)
        from services.common.routes import ROUTES

        return cls(
            cors_origins=frozenset(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
            rate_limits=tuple(parse_many(env("VICHE_RATE_LIMIT", "300/minute;5000/hour", vars_))),
            max_body_bytes=env_int("VICHE_MAX_BODY_BYTES", 1024 * 1024, vars_),
            upstream_timeout=float(env("VICHE_UPSTREAM_TIMEOUT", "30", vars_)),
            connect_timeout=float(env("VICHE_UPSTREAM_CONNECT_TIMEOUT", "2", vars_)),
            trusted_proxies=env_int("VICHE_TRUSTED_PROXIES", 0, vars_),
            redis_url=env("REDIS_URL", None, vars_),
            default_locale=env("VICHE_DEFAULT_LOCALE", "en", vars_),
            upstreams={
                route.service: env(
                    f"{route.service.upper()}_URL", f"http://127.0.0.1:{route.port}", vars_
                ).rstrip("/")
                for route in ROUTES
            },
        )


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The caller's address: the peer, unless trusted proxies in front of us say otherwise."""
    if trusted_proxies and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return peer or "unknown"


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return (
        method == "OPTIONS"
        and bool(headers.get("Origin"))
        and bool(headers.get("Access-Control-Request-Method"))
    )


def cors_headers(origin: str | None, settings: GatewaySettings) -> list[tuple[str, str]]:
    """Headers that let an allowed origin's page read the response."""
    if not origin or origin.rstrip("/") not in settings.cors_origins:
        return []
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
        ("Vary", "Origin"),
    ]


def preflight_headers(
    origin: str, requested_headers: str | None, settings: GatewaySettings
) -> list[tuple[str, str]]:
    return [
        *cors_headers(origin, settings),
        ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"),
        (
            "Access-Control-Allow-Headers",
            requested_headers or "Authorization, Content-Type, If-None-Match, X-Request-ID",
        ),
        ("Access-Control-Max-Age", "600"),
    ]


def body_too_large(content_length: str | int | None, settings: GatewaySettings) -> bool:
    try:
        return content_length is not None and int(content_length) > settings.max_body_bytes
    except ValueError:
        return True


def forwardable(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Drop hop-by-hop headers, the ones `Connection` names, and internal ones."""
    pairs = list(headers)
    named = set()
    for name, value in pairs:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return [
        (name, value)
        for name, value in pairs
        if (lower := name.lower()) not in HOP_BY_HOP
        and lower not in named
        and not lower.startswith(INTERNAL_HEADER_PREFIX)
    ]


def chosen_language(query_string: str | None, cookie_header: str | None) -> str | None:
    """The language a visitor chose: `?lang=`, else the web UI's language cookie."""
    asked = (parse_qs(query_string or "").get("lang") or [None])[0]
    if asked:
        return asked
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except CookieError:
        return None
    kept = cookies.get(LANGUAGE_COOKIE)
    return kept.value if kept else None


def wants_page(path: str | None, accept: str | None) -> bool:
    """A browser asking for a web page (not the API) is answered with a page."""
    return not (path or "/").startswith("/api/") and "text/html" in (accept or "")


PROBLEM_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{detail}</p><p><a href="/">{home}</a></p></main></body></html>
"""


def gateway_problem(
    slug: str,
    detail: str,
    *,
    accept_language: str | None,
    query_string: str | None = None,
    cookie: str | None = None,
    accept: str | None = None,
    request_id: str | None,
    instance: str | None,
    settings: GatewaySettings,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> tuple[int, list[tuple[str, str]], bytes]:
    """An answer made by the gateway itself, in the caller's language: problem+json, or
    for a browser asking for a web page, a page saying the same."""
    locale = negotiate_locale(
        chosen_language(query_string, cookie), accept_language, settings.default_locale
    )
    gettext = translations_for(locale).gettext
    status, title = PROBLEMS[slug]
    if wants_page(instance, accept):
        content_type = "text/html; charset=utf-8"
        payload = PROBLEM_PAGE.format(
            lang=locale,
            title=escape(gettext(title)),
            detail=escape(gettext(detail)),
            home=escape(gettext("Go to the home page")),
        ).encode()
    else:
        content_type = PROBLEM_CONTENT_TYPE
        body = problem_body(
            slug,
            status,
            gettext(title),
            gettext(detail),
            instance=instance,
            request_id=request_id,
        )
        payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(payload))),
        ("Content-Language", locale),
        *extra_headers,
    ]
    if request_id:
        headers.append(("X-Request-ID", request_id))
    return status, headers, payload


def N_(message: str) -> str:
    return message


# The gateway's own words, for the catalogue.
DETAIL_TOO_LARGE = N_("The request body is larger than the gateway accepts.")
DETAIL_RATE_LIMITED = N_("Too many requests from your address. Try again in a little while.")
DETAIL_ORIGIN = N_("This origin may not call the API from a browser.")
DETAIL_DOWN = N_("The service behind this address is down. Try again shortly.")
DETAIL_SLOW = N_("The service behind this address did not answer in time.")
DETAIL_BAD = N_("The service behind this address answered in a way we could not relay.")
