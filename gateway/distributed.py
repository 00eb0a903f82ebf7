"""Distributed mode on one machine: each service and the gateway as its own gunicorn.

`viche up`, the distributed tests and the benchmarks all start the topology through
`Cluster`, with the commands `process_specs` builds from the route table; the compose
file describes the same processes in containers.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from services.common.config import SERVICES
from services.common.routes import GATEWAY_PORT, ROUTES

HOST = "127.0.0.1"
# Requests answered at once per worker (each connection has a thread of its own:
# services.common.server.ConnectionThreadWorker). A signature or a vote waits on
# PostgreSQL for most of its time, and more requests in flight put more rows into each
# group insert (services.common.db.GroupInsert). Thirty-two, not sixteen: at 64 clients
# through the gateway, sixteen left half of each worker's connections waiting their turn
# (account votes: 0.46 of the health check's rate with sixteen, 0.52 with thirty-two).
THREADS = 32

# gunicorn app specs: factories called once per worker.
APP_SPECS = {
    "auth": "services.auth:create_app()",
    "polls": "services.polls:create_app(background=True)",
    "petitions": "services.petitions:create_app(background=True)",
    "web": "gateway.web:create_app()",
}


@dataclass
class ProcessSpec:
    name: str
    port: int | None  # None: a worker that serves no HTTP (the outbox delivery)
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def gunicorn_argv(
    app_spec: str,
    port: int,
    *,
    workers: int,
    threads: int = THREADS,
    worker_class: str = "services.common.server.ConnectionThreadWorker",
    host: str = HOST,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        app_spec,
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        # Longer than the gateway's pooled connections live, so the gateway closes first.
        "--keep-alive",
        "30",
        "--graceful-timeout",
        "10",
        "--no-control-socket",
    ]


def process_specs(
    ports: dict[str, int] | None = None,
    *,
    workers: int = 2,
    gateway_workers: int = 1,
    host: str = HOST,
) -> list[ProcessSpec]:
    """The services, the web app and the gateway, each on its own port."""
    ports = {**{r.service: r.port for r in ROUTES}, "gateway": GATEWAY_PORT, **(ports or {})}
    upstream_urls = {f"{name.upper()}_URL": f"http://{host}:{ports[name]}" for name in APP_SPECS}
    specs = [
        ProcessSpec(
            name,
            ports[name],
            gunicorn_argv(spec, ports[name], workers=workers, host=host),
            {**upstream_urls, "VICHE_BEHIND_GATEWAY": "1"},
        )
        for name, spec in APP_SPECS.items()
    ]
    gateway_argv = gunicorn_argv(
        "gateway.proxy:create_proxy_app()",
        ports["gateway"],
        workers=gateway_workers,
        worker_class="gateway.proxy.GatewayWorker",
        host=host,
    )
    specs.append(ProcessSpec("gateway", ports["gateway"], gateway_argv, dict(upstream_urls)))
    # Email and SMS leave through auth's outbox, delivered by its own process.
    worker_argv = [sys.executable, "-m", "gateway.cli", "worker"]
    specs.append(ProcessSpec("auth-worker", None, worker_argv, dict(upstream_urls)))
    return specs


def postgres_urls(prefix: str = "viche", base: str | None = None) -> dict[str, str]:
    """`<SERVICE>_DATABASE_URL` for each service: one PostgreSQL database each."""
    base = base or os.environ.get(
        "VICHE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
    )
    return {f"{s.upper()}_DATABASE_URL": f"{base.rstrip('/')}/{prefix}_{s}" for s in SERVICES}


def _die_with_parent() -> None:
    """Linux: stop the child when the process that started it dies, even by SIGKILL,
    so that an interrupted test run leaves no server holding a port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _answers_ok(url: str) -> bool:
    """GET `url` over a connection of its own, closed at once (a server that counts its
    connections is not left holding this one)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1.0)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until_healthy(url: str, deadline: float, process: subprocess.Popen | None = None) -> None:
    while not _answers_ok(url):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not become healthy")
        time.sleep(0.1)


class Cluster:
    """Start, watch and stop the processes of distributed mode."""

    def __init__(self, specs: list[ProcessSpec], env: dict[str, str], log_dir: Path) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.specs[name].port}"

    def start(self, names: list[str] | None = None, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names or list(self.specs):
            spec = self.specs[name]
            with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its copy
                self.processes[name] = subprocess.Popen(  # noqa: S603 - our own argv
                    spec.argv,
                    env={**os.environ, **self.env, **spec.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # no threads start before exec
                )
        deadline = time.monotonic() + timeout
        for name in names or list(self.specs):
            if self.specs[name].port is not None:
                wait_until_healthy(self.url(name) + "/healthz", deadline, self.processes[name])

    def stop(self, names: list[str] | None = None) -> None:
        for name in names or list(self.processes):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()
