"""Work that arrives together, done together: one statement for the rows of many
requests (a group commit), one call to a peer for the requests of many voters.

Under load most of what such work costs is per call (a round trip, a request's
handling, a commit), not per item. `Gathering` lets the first of the threads that arrive
while a batch is being done do the next batch for all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary


class _Waiting:
    """One thread's item, waiting in line, and what became of it."""

    __slots__ = ("error", "item", "leads", "outcome", "woken")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.outcome: Any = None
        self.error: BaseException | None = None
        # Held from the start: the thread waits by acquiring it, and is woken by its
        # release (once to lead, once when its batch is done). A bare lock, not an
        # Event: an Event's condition variable cost every vote a few microseconds more.
        self.woken = threading.Lock()
        self.woken.acquire()
        self.leads = False


class Gathering:
    """While one batch is being done, the items other threads bring wait in line; the
    first of them then does the line (up to `most` items, its own first) with one call of
    `do`, which returns an outcome per item, in order. Each thread gets its own outcome,
    or what `do` raised. An item that arrives when nothing is being done goes at once,
    a batch of one: nobody waits for company."""

    def __init__(self, do: Callable[[list], list], most: int) -> None:
        self.do = do
        self.most = most
        self._lock = threading.Lock()
        self._line: list[_Waiting] = []
        self._busy = False

    def __call__(self, item: Any) -> Any:
        mine = _Waiting(item)
        with self._lock:
            self._line.append(mine)
            if not self._busy:
                self._busy = mine.leads = True
        if not mine.leads:
            mine.woken.acquire()  # my batch is done, or it is my turn to lead
        if mine.leads:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.outcome

    def _lead(self) -> None:
        with self._lock:
            batch = self._line[: self.most]
            del self._line[: self.most]
        try:
            outcomes = self.do([waiting.item for waiting in batch])
            for waiting, outcome in zip(batch, outcomes, strict=True):
                waiting.outcome = outcome
        except BaseException as error:  # every thread of the batch hears of it
            for waiting in batch:
                waiting.error = error
        finally:
            # Whatever happened, the next in line leads and every item here is answered.
            with self._lock:
                successor = self._line[0] if self._line else None
                if successor is None:
                    self._busy = False
                else:
                    successor.leads = True
            for waiting in batch:
                waiting.leads = False
                waiting.woken.release()
            if successor is not None:
                successor.woken.release()


class Gatherings:
    """A `Gathering` per key (a database engine, an app: whatever the batch is done
    against), made on first use and let go with its key."""

    def __init__(self, do: Callable[[list], list], most: int) -> None:
        self.do = do
        self.most = most
        self._lines: WeakKeyDictionary[Any, Gathering] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> Gathering:
        line = self._lines.get(key)
        if line is None:
            with self._lock:
                line = self._lines.setdefault(key, Gathering(self.do, self.most))
        return line
