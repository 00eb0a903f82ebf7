"""`viche`: run the suite, migrate its databases, and operate it.

viche run        embedded mode: one process, SQLite under var/, the gateway on :8000
viche up         distributed mode on loopback: one gunicorn per service, PostgreSQL
viche migrate    apply every service's migrations to its database
viche revision   write a service's next migration from its models (for developers)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click

from services.common.config import SERVICES, env_int, var_dir
from services.common.db import ensure_database, new_revision, upgrade_database


def service_app(name: str):
    from services import auth, petitions, polls

    factories = {
        "auth": auth.create_app,
        "polls": polls.create_app,
        "petitions": petitions.create_app,
    }
    return factories[name]({"LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")})


@contextmanager
def service_app_context(name: str):
    """A service app for one command: inside a request context (texts translate), and
    with its database connections closed afterwards."""
    app = service_app(name)
    with app.test_request_context("/"):
        try:
            yield app
        finally:
            app.extensions["sqlalchemy"].session.remove()
            app.extensions["sqlalchemy"].engine.dispose()


def migrate_all(names: tuple[str, ...] = SERVICES) -> None:
    """Create (PostgreSQL) and upgrade each service's own database."""
    for name in names:
        with service_app_context(name) as app:
            ensure_database(app.config["SQLALCHEMY_DATABASE_URI"])
            upgrade_database(app)


@click.group()
def main() -> None:
    """Viche: petitions, community polls and accounts for local councils."""


@main.command()
@click.argument("services", nargs=-1, type=click.Choice(SERVICES))
def migrate(services: tuple[str, ...]) -> None:
    """Apply migrations (all services unless named)."""
    migrate_all(services or SERVICES)
    click.echo("migrations applied: " + ", ".join(services or SERVICES))


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.argument("message")
def revision(service: str, message: str) -> None:
    """Write SERVICE's next migration from its models (applies the earlier ones first)."""
    migrate_all((service,))
    with service_app_context(service) as app:
        click.echo(new_revision(app, message))


@main.command()
@click.option("--port", type=int, default=lambda: env_int("PORT", 8000), show_default="8000")
@click.option(
    "--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="127.0.0.1"
)
def run(port: int, host: str) -> None:
    """Embedded mode: every service in one process behind the gateway."""
    # Links in emails and embed snippets point where this server listens, unless told.
    os.environ.setdefault("VICHE_PUBLIC_URL", f"http://{host}:{port}")
    var_dir().mkdir(parents=True, exist_ok=True)
    migrate_all()
    workers = env_int("WEB_CONCURRENCY", 1)
    click.echo(f"Viche (embedded) on http://{host}:{port}/  (data in {var_dir()})", err=True)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "gateway.embedded:create_embedded_app()",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "services.common.server.ProblemThreadWorker",
        "--threads",
        "16",
        "--keep-alive",
        "30",
        "--no-control-socket",
    ]
    os.execvp(argv[0], argv)  # noqa: S606 - replace this process with the server


@main.command()
@click.option(
    "--workers", type=int, default=2, show_default=True, help="gunicorn workers per service"
)
@click.option("--sqlite", is_flag=True, help="SQLite files under var/ instead of PostgreSQL")
def up(workers: int, sqlite: bool) -> None:
    """Distributed mode on loopback: each service and the gateway as its own gunicorn."""
    from .distributed import Cluster, postgres_urls, process_specs

    env: dict[str, str] = {}
    if not sqlite:
        env.update({k: os.environ.get(k, v) for k, v in postgres_urls().items()})
    os.environ.update(env)
    migrate_all()
    cluster = Cluster(process_specs(workers=workers), env, var_dir() / "logs")
    stopping = False

    def _stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    cluster.start()
    for name, spec in cluster.specs.items():
        where = f"http://127.0.0.1:{spec.port}/" if spec.port else "(no HTTP)"
        click.echo(f"{name:12} {where}", err=True)
    click.echo(
        f"Viche (distributed) on {cluster.url('gateway')}/  logs in {Path(cluster.log_dir)}",
        err=True,
    )
    try:
        while not stopping:
            for name, process in cluster.processes.items():
                if process.poll() is not None:
                    click.echo(f"{name} exited with {process.returncode}; stopping", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        cluster.stop()


def _register_service_commands() -> None:
    from services.auth.cli import auth_cli
    from services.auth.messaging.cli import worker_command

    main.add_command(auth_cli)
    main.add_command(worker_command)


_register_service_commands()

if __name__ == "__main__":
    main()
