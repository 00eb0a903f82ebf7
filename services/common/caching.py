"""HTTP caching for public reads: ETag, Cache-Control and 304, and a short memo.

A crowd watching a count asks the same question many times a second. A short max-age
lets an HTTP cache in front answer most of them; stale-while-revalidate keeps it
answering while it refreshes; the ETag turns the rest into 304s without a body. Where
no cache stands in front, `memo_seconds` keeps each process's last answer for a moment,
so a read costs a dictionary lookup instead of queries: the counts it shows are folded
in once a second anyway. A write committed in a process forgets that process's memo at
once, so nobody reads their own change stale there; other processes catch up within
`memo_seconds`, well inside the `max-age` any HTTP cache may serve anyway.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps

from flask import Response, make_response, request
from sqlalchemy import event

from services.common.i18n import LANGUAGE_COOKIE

MEMO_ENTRIES = 2048
MAKER_PATIENCE_SECONDS = 5.0  # then a thread waiting for another's answer makes its own
# What makes a GET conditional (or partial). Without any of these, werkzeug's
# make_conditional has nothing to decide, and asking it costs more than the memo lookup.
CONDITIONAL_HEADERS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
)
_generation = [0]  # bumped by every committed write; memo keys carry it


def forget_public_reads() -> None:
    """Make every memoised answer in this process unreachable."""
    _generation[0] += 1


def forget_public_reads_after_writes(db) -> None:
    """Forget the memo whenever a session of `db` commits something it flushed."""

    @event.listens_for(db.session, "after_flush")
    def flushed(session, _flush_context):
        session.info["viche.wrote"] = True

    @event.listens_for(db.session, "do_orm_execute")
    def executed(state):  # INSERT, UPDATE or DELETE statements run through the session
        if state.is_insert or state.is_update or state.is_delete:
            state.session.info["viche.wrote"] = True

    @event.listens_for(db.session, "after_commit")
    def committed(session):
        if session.info.pop("viche.wrote", False):
            forget_public_reads()


class _Memo:
    """A small LRU of finished public responses, per process; an answer missing from it
    is made by one thread while the others asking for it wait (`making`)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, tuple[float, bytes, list]] = OrderedDict()
        self.lock = threading.Lock()
        # Answers being made, each with a lock held by the thread making it. When one
        # expires, every request thread may be asking for it: each making it again
        # would be a burst of the same queries, each holding database connections.
        self.making: dict[tuple, threading.Lock] = {}

    def wait_for_maker(self, key: tuple) -> bool:
        """If another thread is making the answer for `key`, wait for it (True);
        otherwise this thread is its maker, and calls `made(key)` once done (False)."""
        with self.lock:
            maker = self.making.get(key)
            if maker is None:
                maker = self.making[key] = threading.Lock()
                maker.acquire()
                return False
        if maker.acquire(timeout=MAKER_PATIENCE_SECONDS):
            maker.release()  # for the other threads waiting on it
        return True

    def made(self, key: tuple) -> None:
        with self.lock:
            self.making.pop(key).release()

    def get(self, key: tuple, max_age: float) -> Response | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or time.monotonic() - entry[0] > max_age:
                return None
            self.entries.move_to_end(key)
        return Response(entry[1], status=200, headers=entry[2])

    def put(self, key: tuple, response: Response) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic(), response.get_data(), list(response.headers))
            while len(self.entries) > MEMO_ENTRIES:
                self.entries.popitem(last=False)


def _conditional(response: Response) -> Response:
    """304 for a matching ETag, and the rest of HTTP's conditional GET."""
    environ = request.environ
    if any(name in environ for name in CONDITIONAL_HEADERS):
        return response.make_conditional(request)
    return response


def cached_public_read(
    max_age: int = 5, stale_while_revalidate: int = 30, memo_seconds: float = 0.0
) -> Callable:
    """Give a GET view's response an ETag and a public Cache-Control; answer 304 on a match."""
    memo = _Memo()

    def decorate(view):
        def answer(args, kwargs, signed_in: bool, memo_key: tuple | None) -> Response:
            """The view's answer, with its caching headers; a public 200 is memoised
            under `memo_key`."""
            response = make_response(view(*args, **kwargs))
            if response.status_code != 200:
                return response
            if signed_in:
                # An answer to a signed-in caller may hold what only they may see.
                response.cache_control.no_store = True
                response.cache_control.private = True
                return response
            # The answer to a signed-in caller differs (`yours`…): a cache keeps the
            # public answer for those who send no Authorization only.
            response.vary.add("Authorization")
            # Some answers speak the reader's language (a CSV's headings…).
            response.vary.add("Accept-Language")
            response.cache_control.public = True
            response.cache_control.max_age = max_age
            response.cache_control.stale_while_revalidate = stale_while_revalidate
            response.add_etag()  # a strong ETag over the body: equal bodies, equal tags
            if memo_key is not None:
                memo.put(memo_key, response)
            return _conditional(response)

        @wraps(view)
        def wrapper(*args, **kwargs):
            signed_in = "Authorization" in request.headers
            if signed_in or not memo_seconds:
                return answer(args, kwargs, signed_in, None)
            # Everything an answer's language may come from: ?lang= (in the path), the
            # chosen language's cookie, the browser's Accept-Language.
            key = (
                _generation[0],
                request.full_path,
                request.headers.get("Accept-Language"),
                request.cookies.get(LANGUAGE_COOKIE),
            )
            remembered = memo.get(key, memo_seconds)
            if remembered is None:
                if not memo.wait_for_maker(key):
                    try:
                        return answer(args, kwargs, False, key)
                    finally:
                        memo.made(key)
                # Made by another thread meanwhile; unless it was not a 200, or slow.
                remembered = memo.get(key, memo_seconds)
                if remembered is None:
                    return answer(args, kwargs, False, key)
            return _conditional(remembered)

        return wrapper

    return decorate
