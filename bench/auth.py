"""What signing in and checking tokens cost, against the health endpoint, in one run.

    .venv/bin/python bench/auth.py [--seconds 8] [--connections 16] [--postgres]

auth runs under gunicorn (2 workers, 16 threads) as in distributed mode. Measured:
- health: GET /healthz, the baseline;
- login: POST /login with the right password. argon2id is slow on purpose, so this is
  bounded by the hash; `hash_ms` reports one verification's cost;
- me: GET /me with an access token, i.e. verifying the token plus one primary-key read;
- verify_per_s: TokenVerifier.verify in one process, the verification alone.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)

from bench.kit import free_port, rps, scratch_postgres, without_errors  # noqa: E402
from bench.kit import wrk as wrk_run  # noqa: E402
from gateway.distributed import Cluster, ProcessSpec, gunicorn_argv  # noqa: E402

EMAIL, PASSWORD = "bench@example.org", "a long benchmark passphrase"


def prepare(work: Path) -> tuple[str, float, float]:
    """A confirmed account; an access token for it; the hash and verify costs."""
    from gateway.cli import migrate_all, service_app_context
    from services.auth.accounts.models import User
    from services.auth.accounts.passwords import hash_password, verify_password
    from services.auth.accounts.sessions import login
    from services.auth.accounts.settings import Settings
    from services.auth.models import db
    from services.common.timeutil import utcnow
    from services.common.tokens import TOKEN_VERIFIER_KEY

    migrate_all()
    with service_app_context("auth") as app:
        stored = hash_password(PASSWORD)
        started = time.perf_counter()
        for _ in range(5):
            verify_password(stored, PASSWORD)
        hash_ms = (time.perf_counter() - started) / 5 * 1000
        db.session.add(
            User(
                name="Bench",
                email=EMAIL,
                password_hash=stored,
                locale="uk",
                email_verified_at=utcnow(),
                link_nonce=0,
            )
        )
        db.session.commit()
        token = login(
            db.session, Settings.from_config(app.config), email=EMAIL, password=PASSWORD
        ).access_token
        verifier = app.extensions[TOKEN_VERIFIER_KEY]
        verifier.verify(token)  # fetch the keys once
        rounds, started = 5000, time.perf_counter()
        for _ in range(rounds):
            verifier.verify(token)
        verify_per_s = rounds / (time.perf_counter() - started)
    return token, hash_ms, verify_per_s


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> float:
    return rps(without_errors(wrk_run(url, seconds, connections, script), url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="viche-bench-auth-"))
    env = {"VICHE_VAR_DIR": str(work), "LOG_LEVEL": "WARNING"}
    if args.postgres:
        env.update(scratch_postgres())
    os.environ.update(env)
    token, hash_ms, verify_per_s = prepare(work)

    port = free_port()
    spec = ProcessSpec("auth", port, gunicorn_argv("services.auth:create_app()", port, workers=2))
    cluster = Cluster([spec], env, work / "logs")
    login_lua = work / "login.lua"
    login_lua.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}\'\n'
    )
    me_lua = work / "me.lua"
    me_lua.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    base = f"http://127.0.0.1:{port}"
    try:
        cluster.start()
        wrk(base + "/healthz", 2, args.connections)  # warm up
        health = wrk(base + "/healthz", args.seconds, args.connections)
        me = wrk(base + "/me", args.seconds, args.connections, me_lua)
        # Last: slow logins still queued when wrk stops would slow whatever came next.
        logins = wrk(base + "/login", args.seconds, args.connections, login_lua)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"health {health:.0f}/s, login {logins:.0f}/s, me {me:.0f}/s", file=sys.stderr)
    print(
        json.dumps(
            {
                "health_rps": round(health, 1),
                "login_rps": round(logins, 1),
                "me_rps": round(me, 1),
                "hash_ms": round(hash_ms, 2),
                "verify_per_s": round(verify_per_s, 1),
                "login_ratio": round(logins / health, 4),
                "me_ratio": round(me / health, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
