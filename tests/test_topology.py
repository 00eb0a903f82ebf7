"""docker-compose.yml, the route table and the code's settings agree.

Docker does not run where the tests run, so this is how the compose file is kept true:
every route has its container on the right port, every service its own database, every
setting the file passes is one the code reads, every command it runs exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gateway.cli import main as viche_cli
from gateway.distributed import APP_SPECS
from services.common.config import SERVICES
from services.common.routes import GATEWAY_PORT, ROUTES

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
CONTAINERS = COMPOSE["services"]
INIT_SQL = (REPO / "deploy/postgres/create-databases.sql").read_text()
# Variables consumed by images we do not build, or by compose itself.
FOREIGN = {"POSTGRES_PASSWORD", "PORT"}


def source_text() -> str:
    files = [*REPO.glob("services/**/*.py"), *REPO.glob("gateway/**/*.py")]
    return "\n".join(path.read_text() for path in files)


def bind_port(container: dict) -> int:
    command = container["command"]
    return int(command[command.index("--bind") + 1].rsplit(":", 1)[1])


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.service)
def test_every_route_has_a_container_on_its_port(route):
    container = CONTAINERS[route.service]
    assert bind_port(container) == route.port
    gateway_env = CONTAINERS["gateway"]["environment"]
    assert gateway_env[f"{route.service.upper()}_URL"] == f"http://{route.service}:{route.port}"
    assert route.service in CONTAINERS["gateway"]["depends_on"]


def test_the_gateway_listens_on_its_port_and_is_published():
    assert bind_port(CONTAINERS["gateway"]) == GATEWAY_PORT
    assert f"{GATEWAY_PORT}:{GATEWAY_PORT}" in CONTAINERS["gateway"]["ports"]
    assert "gateway.proxy.GatewayWorker" in CONTAINERS["gateway"]["command"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_database(service):
    url = CONTAINERS[service]["environment"][f"{service.upper()}_DATABASE_URL"]
    database = url.rsplit("/", 1)[1]
    assert database == f"viche_{service}"
    assert f"CREATE DATABASE {database};" in INIT_SQL
    assert CONTAINERS[service]["environment"]["VICHE_BEHIND_GATEWAY"] == "1"


def test_every_setting_passed_is_read_by_the_code():
    code = source_text()
    # Per-service names are read through f"{service.upper()}_URL" and _DATABASE_URL.
    assert 'f"{service.upper()}_URL"' in code and 'f"{service.upper()}_DATABASE_URL"' in code
    derived = {f"{r.service.upper()}_URL" for r in ROUTES}
    derived |= {f"{s.upper()}_DATABASE_URL" for s in SERVICES}
    unread = sorted(
        {
            name
            for container in CONTAINERS.values()
            for name in (container.get("environment") or {})
            if name not in FOREIGN | derived and not re.search(rf'"{name}"', code)
        }
    )
    assert not unread, f"set in docker-compose.yml but read nowhere: {unread}"


def test_production_secrets_are_required_not_defaulted():
    env = CONTAINERS["gateway"]["environment"]
    assert env["VICHE_ENV"] == "production"
    raw = (REPO / "docker-compose.yml").read_text()
    for secret in ("VICHE_SECRET_KEY", "VICHE_INTERNAL_TOKEN", "VICHE_HASH_KEY"):
        assert f"${{{secret}:?" in raw, secret


def test_every_long_running_container_has_a_health_check():
    for name, container in CONTAINERS.items():
        if name == "migrate":
            continue
        assert "healthcheck" in container, name


def test_every_viche_command_in_the_file_exists():
    for name, container in CONTAINERS.items():
        command = container.get("command")
        if isinstance(command, list) and command[0] == "viche":
            assert command[1] in viche_cli.commands, f"{name}: viche {command[1]}"


def test_migrations_run_before_the_services():
    for service in (*SERVICES, "web"):
        assert CONTAINERS[service]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_the_image_installs_the_package_with_its_catalogues():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install ." in dockerfile
    assert dockerfile.index("pybabel -q compile") < dockerfile.index("pip install .")


@pytest.mark.parametrize("service", sorted(APP_SPECS))
def test_each_container_runs_the_app_as_distributed_mode_does(service):
    """The same factory call, so a service's background jobs run in both."""
    assert CONTAINERS[service]["command"][1] == APP_SPECS[service]
