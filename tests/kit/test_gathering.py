"""Gathering: items that arrive while a batch is being done are done together next."""

from __future__ import annotations

import threading
import time

import pytest

from services.common.gathering import Gathering


class Recorder:
    """A `do` that records its batches; the first waits until it is let go."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.first_started = threading.Event()
        self.let_go = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.let_go.wait(5)
        if self.fail_on in items:
            raise RuntimeError(f"batch with {self.fail_on}")
        return [item.upper() for item in items]


def run_in_threads(gathering: Gathering, do: Recorder, items: list[str]) -> dict:
    """`items[0]` first, the others while its batch is being done; each thread's answer."""
    answers: dict[str, object] = {}

    def ask(item: str) -> None:
        try:
            answers[item] = gathering(item)
        except Exception as error:
            answers[item] = error

    first = threading.Thread(target=ask, args=(items[0],))
    first.start()
    assert do.first_started.wait(5)
    others = [threading.Thread(target=ask, args=(item,)) for item in items[1:]]
    for thread in others:
        thread.start()
    while len(gathering._line) < len(others):  # all of them in line
        time.sleep(0.005)
    do.let_go.set()
    for thread in [first, *others]:
        thread.join(5)
    return answers


def test_a_lone_item_goes_at_once():
    do = Recorder()
    do.let_go.set()
    assert Gathering(do, most=8)("a") == "A"
    assert do.batches == [["a"]]


def test_what_arrives_meanwhile_goes_together_and_each_thread_gets_its_own():
    do = Recorder()
    gathering = Gathering(do, most=8)
    answers = run_in_threads(gathering, do, ["a", "b", "c", "d"])
    assert answers == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert do.batches[0] == ["a"]
    assert sorted(do.batches[1]) == ["b", "c", "d"] and len(do.batches) == 2


def test_a_batch_holds_at_most_so_many():
    do = Recorder()
    answers = run_in_threads(Gathering(do, most=2), do, ["a", "b", "c", "d", "e"])
    assert answers == {item: item.upper() for item in "abcde"}
    assert [len(batch) for batch in do.batches] == [1, 2, 2]


def test_a_failed_batch_is_every_one_of_its_threads_error_and_the_line_goes_on():
    do = Recorder(fail_on="c")
    gathering = Gathering(do, most=8)
    answers = run_in_threads(gathering, do, ["a", "b", "c"])
    assert answers["a"] == "A"
    for item in ("b", "c"):
        assert isinstance(answers[item], RuntimeError)
    assert gathering("z") == "Z"  # nobody is left leading a dead line


@pytest.mark.parametrize("most", [1, 3])
def test_many_threads_at_once_all_get_their_answers(most):
    gathering = Gathering(lambda items: [item * 2 for item in items], most=most)
    answers: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda n=n: answers.__setitem__(n, gathering(n))) for n in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert answers == {n: n * 2 for n in range(50)}
