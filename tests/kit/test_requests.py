"""Request ids: accepted when plain, made otherwise, returned always."""

from __future__ import annotations

import pytest

from services.common.requests import accept_request_id


def test_a_plain_id_is_kept():
    assert accept_request_id("abc-123_x.y:z") == "abc-123_x.y:z"


@pytest.mark.parametrize("offered", [None, "", "a" * 129, "bad id", "x\r\nSet-Cookie: a=b", "ü"])
def test_anything_else_is_replaced(offered):
    made = accept_request_id(offered)
    assert made != offered and len(made) == 32


def test_through_the_gateway_the_id_comes_back(client):
    response = client.get("/api/polls/healthz", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-42"
    made = client.get("/api/polls/healthz").headers["X-Request-ID"]
    assert len(made) == 32
