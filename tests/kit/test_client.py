"""Services call each other the same way in both modes; a peer that is down is a 503."""

from __future__ import annotations

import socket

import pytest

from services.common.client import ServiceUnavailable, call_service
from services.petitions import create_app as create_petitions_app


def test_in_process_call_carries_the_request_id(petitions_app):
    with petitions_app.test_request_context("/"):
        from flask import g

        g.request_id = "trace-7"
        response = call_service("auth", "GET", "/healthz")
    assert response.ok and response.json()["service"] == "auth"
    assert response.headers["X-Request-ID"] == "trace-7"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_peer_that_is_down_is_service_unavailable():
    app = create_petitions_app({"SERVICE_URLS": {"auth": f"http://127.0.0.1:{_closed_port()}"}})
    with app.test_request_context("/"), pytest.raises(ServiceUnavailable) as caught:
        call_service("auth", "GET", "/healthz")
    assert caught.value.status == 503


def test_a_peer_with_no_address_is_service_unavailable():
    app = create_petitions_app({"SERVICE_URLS": {}})
    with app.test_request_context("/"), pytest.raises(ServiceUnavailable):
        call_service("auth", "GET", "/healthz")
