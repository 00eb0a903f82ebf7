"""Public reads carry ETag and Cache-Control and answer 304 to a matching tag."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from services.common.caching import cached_public_read


def app_with_counter():
    app = Flask("probe")
    state = {"count": 1}

    @app.get("/count")
    @cached_public_read(max_age=5, stale_while_revalidate=30)
    def count():
        return {"count": state["count"]}

    @app.get("/missing")
    @cached_public_read()
    def missing():
        return {"error": "no"}, 404

    return app, state


def test_etag_and_cache_control_then_304():
    app, state = app_with_counter()
    client = app.test_client()
    first = client.get("/count")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    cache_control = first.headers["Cache-Control"]
    assert "public" in cache_control and "max-age=5" in cache_control
    assert "stale-while-revalidate=30" in cache_control
    again = client.get("/count", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    state["count"] = 2
    changed = client.get("/count", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_errors_are_not_cached():
    app, _ = app_with_counter()
    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert "ETag" not in response.headers and "Cache-Control" not in response.headers


def test_answers_to_signed_in_callers_are_never_shared():
    app, _ = app_with_counter()
    response = app.test_client().get("/count", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"] and "ETag" not in response.headers


def test_a_memo_answers_repeated_reads_for_a_moment():
    app = Flask("memo")
    calls = {"n": 0}

    @app.get("/hot")
    @cached_public_read(memo_seconds=60)
    def hot():
        calls["n"] += 1
        return {"n": calls["n"]}

    client = app.test_client()
    first = client.get("/hot")
    second = client.get("/hot")
    assert first.json == second.json == {"n": 1} and calls["n"] == 1
    assert second.headers["ETag"] == first.headers["ETag"]
    assert client.get("/hot", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    # Signed-in callers always get a fresh, private answer.
    assert client.get("/hot", headers={"Authorization": "Bearer x"}).json == {"n": 2}


def test_an_answer_many_ask_for_at_once_is_made_once():
    """When a memoised answer is missing, the requests asking for it meanwhile wait for
    the one making it instead of each running the view (its queries) again."""
    app = Flask("crowd")
    calls = {"n": 0}
    crowd = 12
    arrived = threading.Barrier(crowd)

    @app.get("/slow")
    @cached_public_read(memo_seconds=60)
    def slow():
        calls["n"] += 1
        time.sleep(0.3)  # the others arrive while it is being made
        return {"n": calls["n"]}

    @app.get("/gone")
    @cached_public_read(memo_seconds=60)
    def gone():
        calls["n"] += 1
        time.sleep(0.05)
        return {"error": "no"}, 404

    def ask(path):
        arrived.wait(5)
        return app.test_client().get(path)

    with ThreadPoolExecutor(crowd) as pool:
        answers = list(pool.map(ask, ["/slow"] * crowd))
    assert calls["n"] == 1
    assert {(a.status_code, a.json["n"]) for a in answers} == {(200, 1)}
    # An answer that is not kept (not a 200) is made by each who asks.
    calls["n"] = 0
    with ThreadPoolExecutor(crowd) as pool:
        answers = list(pool.map(ask, ["/gone"] * crowd))
    assert {a.status_code for a in answers} == {404} and calls["n"] == crowd


def test_a_committed_write_forgets_the_memo():
    from flask_sqlalchemy import SQLAlchemy

    from services.common.caching import forget_public_reads_after_writes

    app = Flask("memo-db")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db = SQLAlchemy(app)

    class Row(db.Model):
        id = db.Column(db.Integer, primary_key=True)

    forget_public_reads_after_writes(db)

    @app.get("/rows")
    @cached_public_read(memo_seconds=60)
    def rows():
        return {"rows": db.session.query(Row).count()}

    with app.app_context():
        db.create_all()
        client = app.test_client()
        assert client.get("/rows").json == {"rows": 0}
        with db.engine.begin() as connection:  # behind the session's back: not seen
            connection.execute(Row.__table__.insert())
        db.session.commit()  # a commit that wrote nothing keeps the memo
        assert client.get("/rows").json == {"rows": 0}
        db.session.add(Row())
        db.session.commit()
        assert client.get("/rows").json == {"rows": 2}


def test_a_memo_keeps_each_language_apart_and_caches_are_told_to():
    """The language an answer speaks comes from ?lang=, the chosen language's cookie or
    Accept-Language: a memoised answer in one is never given to a reader of another."""
    from services.common.i18n import LANGUAGE_COOKIE

    app = Flask("memo-languages")

    @app.get("/heading")
    @cached_public_read(memo_seconds=60)
    def heading():
        from flask import request

        chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        return {"heading": {"uk": "Відповідь", "en": "Answer"}[chosen or "en"]}

    client = app.test_client()
    first = client.get("/heading", headers={"Accept-Language": "en"})
    assert first.json == {"heading": "Answer"}
    assert {"Authorization", "Accept-Language"} <= set(first.vary)
    client.set_cookie(LANGUAGE_COOKIE, "uk")
    chosen = client.get("/heading", headers={"Accept-Language": "en"})
    assert chosen.json == {"heading": "Відповідь"}
    client.delete_cookie(LANGUAGE_COOKIE)
    assert client.get("/heading", headers={"Accept-Language": "en"}).json == first.json
