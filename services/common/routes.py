"""The route table: which public path prefix belongs to which service.

Both modes read this one table. The embedded gateway dispatches to in-process apps by
it, the distributed gateway proxies by it, the service client finds peers by it, and
docker-compose.yml is checked against it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    prefix: str  # public path prefix, without a trailing slash ("/" for the catch-all)
    service: str  # the app that answers under it
    port: int  # its port on loopback in distributed mode (`viche up`)

    def split(self, path: str) -> tuple[str, str] | None:
        """(script_name, path_info) when `path` is under this prefix, else None."""
        if self.prefix == "/":
            return "", path or "/"
        if path == self.prefix:
            return self.prefix, "/"
        if path.startswith(self.prefix + "/"):
            return self.prefix, path[len(self.prefix) :]
        return None


ROUTES: tuple[Route, ...] = (
    Route("/api/auth", "auth", 8101),
    Route("/api/polls", "polls", 8102),
    Route("/api/petitions", "petitions", 8103),
    # The web UI also serves the merged OpenAPI document, the API docs page and the
    # problem+json 404 for every other /api path.
    Route("/", "web", 8104),
)

GATEWAY_PORT = 8000


def match_route(path: str) -> tuple[Route, str, str]:
    """The route for `path` (longest prefix first) with its script name and remaining path."""
    for route in ROUTES:
        parts = route.split(path)
        if parts is not None:
            return route, parts[0], parts[1]
    raise LookupError(path)  # unreachable: "/" matches everything


def prefixes() -> dict[str, str]:
    return {route.service: "" if route.prefix == "/" else route.prefix for route in ROUTES}
