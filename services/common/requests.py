"""Request ids and structured logs.

A request id is accepted from `X-Request-ID` when it looks like one, made otherwise,
logged on every line, passed to other services and returned to the client.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = logging.getLogger("viche.access")


def accept_request_id(offered: str | None) -> str:
    """Keep a caller's id if it is short and plain; never echo arbitrary text into logs."""
    if offered and _VALID_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:  # outside a request
                record.request_id = None
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr, once per process."""
    root = logging.getLogger()
    if any(getattr(h, "_viche", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._viche = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
    )
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)


def init_request_ids(app: Flask) -> None:
    service = app.config.get("SERVICE_NAME", app.name)

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def _return_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "service": service,
                    "method": request.method,
                    "path": request.script_root + request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 2),
                },
            )
        return response
