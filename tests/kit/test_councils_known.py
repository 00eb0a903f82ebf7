"""What other services know of a council, asked of auth and remembered."""

from __future__ import annotations

import pytest

from services.common import councils
from services.common.client import PEERS_KEY, Peer
from services.common.councils import UnknownCouncil, council_info

pytestmark = pytest.mark.usefixtures("councils")


def auth_down(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"down"]


def test_when_auth_cannot_answer_what_it_said_last_stands(petitions_app, monkeypatch):
    peers = petitions_app.extensions[PEERS_KEY]
    real = peers["auth"]
    with petitions_app.test_request_context("/"):
        assert council_info("kyiv")["time_zone"] == "Europe/Kyiv"
        monkeypatch.setattr(councils, "KNOWN_FOR_SECONDS", 0.0)  # time to ask again
        peers["auth"] = Peer(auth_down, real.prefix)
        try:
            assert council_info("kyiv")["time_zone"] == "Europe/Kyiv"  # the last word
            with pytest.raises(UnknownCouncil) as refused:  # never heard of: no answer
                council_info("oliivka")
            assert refused.value.status == 503
        finally:
            peers["auth"] = real
        assert council_info("oliivka")["slug"] == "oliivka"  # auth is back


def test_a_council_auth_no_longer_knows_is_forgotten(petitions_app, auth_app, monkeypatch):
    from services.auth.councils.models import Council
    from services.auth.models import db as auth_db

    with petitions_app.test_request_context("/"):
        assert council_info("oliivka") is not None
    with auth_app.app_context():
        auth_db.session.query(Council).filter_by(slug="oliivka").delete()
        auth_db.session.commit()
    monkeypatch.setattr(councils, "KNOWN_FOR_SECONDS", 0.0)
    with petitions_app.test_request_context("/"):
        assert council_info("oliivka") is None
