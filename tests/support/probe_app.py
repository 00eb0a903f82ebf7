"""A WSGI app for testing the servers the services run under (tests/kit/test_server.py).

/healthz       200
/thread        which thread answered
/together/N    answers once N requests are being answered at the same time
/slow          answers after a second and a half
/echo          the request body, back
"""

from __future__ import annotations

import json
import threading
import time

from services.common.config import service_config

_holding = 0
_most_at_once = 0
_holding_lock = threading.Lock()


def _hold() -> None:
    global _holding, _most_at_once
    with _holding_lock:
        _holding += 1
        _most_at_once = max(_most_at_once, _holding)
    time.sleep(0.2)
    with _holding_lock:
        _holding -= 1


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/healthz":
        body = b"ok"
    elif path == "/thread":
        body = str(threading.get_ident()).encode()
    elif path == "/hold":
        _hold()
        body = b"held"
    elif path == "/most-at-once":
        body = str(_most_at_once).encode()
    elif path == "/slow":
        time.sleep(1.5)
        body = b"slow"
    elif path == "/pool":
        body = json.dumps(service_config("polls")["SQLALCHEMY_ENGINE_OPTIONS"]).encode()
    elif path == "/echo":
        body = environ["wsgi.input"].read()
    else:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
