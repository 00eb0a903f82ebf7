"""`viche worker`: deliver auth's outbox (distributed mode; embedded mode uses a thread)."""

from __future__ import annotations

import click


@click.command("worker")
def worker_command() -> None:
    """Deliver queued email and SMS with retries, until stopped."""
    from gateway.cli import service_app

    from .worker import serve

    serve(service_app("auth"))
