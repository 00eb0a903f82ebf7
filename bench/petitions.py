"""Signing under load, in distributed mode on PostgreSQL, against the health baseline.

    .venv/bin/python bench/petitions.py [--seconds 5] [--rounds 3] [--people 70000]

Starts every service under gunicorn behind the gateway, creates verified people and
their access tokens up front (signed by auth's real key), opens the petitions, then in
one run measures through the gateway, round after round: the health endpoint (ping),
signing at 8 and at 64 concurrent clients (each request a different person, and every
round new people: nobody's token was seen before), how long the folded count takes to
catch up, reading a petition and listing. Then it writes `--preload` signatures (a
million by default) and measures ping, signing and listing again beside them. Rates
are medians over the rounds. The health baseline is taken first and after each stretch
of measurements; each rate is compared with the mean of the baselines on either side of
it (the host drifts within a minute), and a ratio is the median of those. Afterwards
every 201 must be a row and each count must equal its rows. Before the last line,
where the CPU went per health check and per signature at 64 clients, by process
(Linux). The last line is one JSON object.
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

import urllib3

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)

from bench.kit import (  # noqa: E402
    TOKEN_POST_LUA,
    CpuLedger,
    Measurements,
    People,
    accepted,
    free_port,
    median,
    requests_sent,
    rps,
    scratch_postgres,
    write_tokens,
    wrk,
)
from gateway.distributed import Cluster, process_specs  # noqa: E402


def prepare(people: int, tokens_file: Path) -> list[int]:
    """Council, policy, two open petitions, and `people` verified residents' tokens."""
    from gateway.cli import migrate_all, service_app_context
    from services.auth.councils.domain import create_council
    from services.auth.models import db as auth_db
    from services.common.tokens import Principal
    from services.petitions import lifecycle
    from services.petitions.models import CouncilPolicy
    from services.petitions.models import db as petitions_db

    migrate_all()
    with service_app_context("auth") as auth:
        create_council(auth_db.session, slug="bench", name="Bench", default_language="uk")
        write_tokens(auth, tokens_file, people, "b")
    with service_app_context("petitions"):
        petitions_db.session.add(
            CouncilPolicy(council="bench", threshold=10_000_000, collection_days=30)
        )
        petitions_db.session.commit()
        author = Principal(
            user_id="author",
            email_verified=True,
            phone_verified=True,
            phone_hash="author-phone",
            name="Author",
        )
        moderator = Principal(user_id="moderator", roles={"bench": ("moderator",)})
        ids = []
        for title in (
            "Signing at eight clients",
            "Signing at sixty-four clients",
            "A million signatures already",
            "Signing beside a million signatures",
        ):
            petition = lifecycle.file_petition(
                petitions_db.session,
                author,
                council="bench",
                title=title,
                text="A petition to measure signing.",
            )
            lifecycle.submit(petitions_db.session, author, petition.id)
            lifecycle.approve(petitions_db.session, moderator, petition.id)
            ids.append(petition.id)
    return ids


def preload(petition_id: int, rows: int) -> None:
    """`rows` signatures on one petition, written straight into PostgreSQL, then folded
    and vacuumed."""
    from sqlalchemy import text

    from gateway.cli import service_app_context
    from services.petitions.counts import fold_new_signatures
    from services.petitions.models import db as petitions_db

    with service_app_context("petitions"):
        petitions_db.session.execute(
            text(
                "INSERT INTO signatures (petition_id, user_id, email_hash, phone_hash,"
                " signer_name, receipt, notify, created_at)"
                " SELECT :petition, 'p' || n, 'em' || n, 'ph' || n, 'Preloaded',"
                " md5(n::text), false, now() - interval '1 hour'"
                " FROM generate_series(1, :rows) AS n"
            ),
            {"petition": petition_id, "rows": rows},
        )
        petitions_db.session.commit()
        fold_new_signatures(petitions_db.session)
        # As the table is once autovacuum has been through it (off on some servers, late
        # on others): vacuumed, its visibility map set, nothing left to scan meanwhile.
        with petitions_db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE) signatures")
            )


def rows_and_counts(petition_id: int) -> tuple[int, int, int]:
    """(signature rows, distinct signers, folded count) for a petition."""
    from sqlalchemy import func, select

    from gateway.cli import service_app_context
    from services.petitions.counts import signature_count
    from services.petitions.models import Signature
    from services.petitions.models import db as petitions_db

    with service_app_context("petitions"):
        session = petitions_db.session
        rows = session.scalar(
            select(func.count(Signature.id)).where(Signature.petition_id == petition_id)
        )
        distinct = session.scalar(
            select(func.count(func.distinct(Signature.user_id))).where(
                Signature.petition_id == petition_id
            )
        )
        return rows, distinct, signature_count(session, petition_id)


def count_lag(petition_id: int) -> tuple[float, int, int]:
    """Seconds until the folded count equals the rows; (lag, rows, distinct signers)."""
    started = time.monotonic()
    rows, distinct, counted = rows_and_counts(petition_id)
    while counted != rows and time.monotonic() - started < 30:
        time.sleep(0.05)
        rows, distinct, counted = rows_and_counts(petition_id)
    return time.monotonic() - started, rows, distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="each measurement's window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--people", type=int, default=70000)
    parser.add_argument(
        "--preload", type=int, default=1_000_000, help="signatures in the database for the rerun"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="viche-bench-petitions-"))
    env = {
        "VICHE_VAR_DIR": str(work),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "VICHE_RATE_LIMIT": "1000000000/minute",
        **scratch_postgres(),
    }
    os.environ.update(env)
    tokens = work / "tokens.txt"
    script = work / "sign.lua"
    script.write_text(TOKEN_POST_LUA)
    print("preparing people and petitions…", file=sys.stderr)
    first, second, ballast, beside = prepare(args.people, tokens)
    people = People(tokens, script, args.people)

    ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
    cluster = Cluster(process_specs(ports, workers=2), env, work / "logs")
    base = f"http://127.0.0.1:{ports['gateway']}/api/petitions"
    listing = f"{base}/petitions?sort=most_signed"
    seconds = args.seconds
    runs = Measurements()
    acknowledged = {first: 0, second: 0, beside: 0}
    lags = []

    signed = [0]  # requests of the last signing run

    def sign(petition_id: int, clients: int) -> float:
        output = people.post(f"{base}/petitions/{petition_id}/signatures", seconds, clients)
        acknowledged[petition_id] += accepted(output)
        signed[0] = requests_sent(output)
        return rps(output)

    try:
        cluster.start()
        wrk(base + "/healthz", 2, 16)
        ledger = CpuLedger({name: process.pid for name, process in cluster.processes.items()})

        def ping(name: str = "ping") -> None:
            ledger.start()
            output = wrk(base + "/healthz", seconds, 64)
            if name == "ping":  # beside the preload, PostgreSQL is still busy with it
                ledger.stop("health check", requests_sent(output))
            runs.add(name, rps(output))

        # The baseline is taken first and after each stretch of measurements, so that
        # each is compared with the baselines on either side of it.
        ping()
        for _ in range(args.rounds):
            runs.add("c8", sign(first, 8))
            ledger.start()
            runs.add("c64", sign(second, 64))
            ledger.stop("signature at 64 clients", signed[0])
            lags.append(count_lag(second)[0])
            ping()
            runs.add("read", rps(wrk(f"{base}/petitions/{second}", seconds, 64)))
            runs.add("list", rps(wrk(listing, seconds, 64)))
            ping()
        http = urllib3.PoolManager()
        shown = json.loads(http.request("GET", f"{base}/petitions/{second}").data)["signatures"]

        print(f"preloading {args.preload} signatures…", file=sys.stderr)
        preload(ballast, args.preload)
        ping("ping_l")
        for _ in range(args.rounds):
            runs.add("c64_l", sign(beside, 64))
            ping("ping_l")
            runs.add("list_l", rps(wrk(listing, seconds, 64)))
            ping("ping_l")
    finally:
        cluster.stop()
    # A 201 that wrk saw but no row holds would be lost. The reverse (rows for requests
    # still in flight when wrk stopped counting) is fine: those were accepted, unseen.
    lost = duplicates = 0
    for petition_id, acknowledged_here in acknowledged.items():
        _, rows, distinct = count_lag(petition_id)
        lost += max(0, acknowledged_here - rows)
        duplicates += rows - distinct
    shutil.rmtree(work, ignore_errors=True)

    names = ("ping", "c8", "c64", "read", "list", "ping_l", "c64_l", "list_l")
    figures = {name: median(runs.values(name)) for name in names}

    # Signing at 8 against 64 clients, round by round (no baseline between them).
    concurrency = median(
        [a / b for a, b in zip(runs.values("c64"), runs.values("c8"), strict=True)]
    )
    print(
        f"medians of {args.rounds} rounds: ping {figures['ping']:.0f}/s, sign c8 "
        f"{figures['c8']:.0f}/s, c64 {figures['c64']:.0f}/s, read {figures['read']:.0f}/s, "
        f"list {figures['list']:.0f}/s, shown count {shown}; with {args.preload} more "
        f"signatures: ping {figures['ping_l']:.0f}/s, sign c64 {figures['c64_l']:.0f}/s, "
        f"list {figures['list_l']:.0f}/s; every round: "
        + json.dumps([[name, round(rate)] for name, rate in runs.taken]),
        file=sys.stderr,
    )
    for what in ("health check", "signature at 64 clients"):
        print(f"CPU per {what}: {ledger.per(what)}", file=sys.stderr)
    print(
        json.dumps(
            {
                "ping_rps": round(figures["ping"], 1),
                "sign_rps_c8": round(figures["c8"], 1),
                "sign_rps_c64": round(figures["c64"], 1),
                "read_rps": round(figures["read"], 1),
                "sign_ratio": round(runs.ratio("c64", "ping"), 3),
                "concurrency_ratio": round(concurrency, 3),
                "read_ratio": round(runs.ratio("read", "ping"), 3),
                "count_lag_s": round(max(lags), 2),
                "lost": lost,
                "duplicates": duplicates,
                "list_rps": round(figures["list"], 1),
                "sign_rps_c64_loaded": round(figures["c64_l"], 1),
                "list_rps_loaded": round(figures["list_l"], 1),
                # Loaded against unloaded, each against the baselines around it.
                "sign_loaded_ratio": round(
                    runs.ratio("c64_l", "ping_l") / runs.ratio("c64", "ping"), 3
                ),
                "list_loaded_ratio": round(
                    runs.ratio("list_l", "ping_l") / runs.ratio("list", "ping"), 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
