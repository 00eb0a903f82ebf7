"""Requests sent at once, to find what two people acting together can break."""

from __future__ import annotations

import threading

from werkzeug.test import Client


def at_once(gateway, requests: list[tuple[str, str, dict, dict]]) -> list[int]:
    """Send the requests from as many threads, released together; their statuses."""
    start = threading.Barrier(len(requests))
    statuses = [0] * len(requests)

    def send(n, method, path, body, headers):
        client = Client(gateway)
        start.wait()
        statuses[n] = client.open(path, method=method, json=body, headers=headers).status_code

    threads = [threading.Thread(target=send, args=(n, *r)) for n, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses
