"""Signing under load, in distributed mode on PostgreSQL, against the health baseline.

    .venv/bin/python bench/petitions.py [--seconds 10] [--people 30000]

Starts every service under gunicorn behind the gateway, creates verified people and
their access tokens up front (signed by auth's real key), opens two petitions, then in
one run measures through the gateway: the health endpoint (ping), signing at 8 and at
64 concurrent clients (each request a different person), reading a petition, and how
long the folded count takes to catch up; then it writes `--preload` signatures (a
million by default) and measures signing and listing again beside them. Afterwards
every 201 must be a row and the count must equal the rows. The last line is one JSON
object.
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
    accepted,
    free_port,
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
    """`rows` signatures on one petition, written straight into PostgreSQL, then folded."""
    from sqlalchemy import text

    from gateway.cli import service_app_context
    from services.petitions.counts import fold_new_signatures
    from services.petitions.models import db as petitions_db

    with service_app_context("petitions"):
        petitions_db.session.execute(
            text(
                "INSERT INTO signatures (petition_id, user_id, phone_hash, signer_name, receipt,"
                " notify, created_at) SELECT :petition, 'p' || n, 'ph' || n, 'Preloaded',"
                " md5(n::text), false, now() - interval '1 hour'"
                " FROM generate_series(1, :rows) AS n"
            ),
            {"petition": petition_id, "rows": rows},
        )
        petitions_db.session.commit()
        fold_new_signatures(petitions_db.session)
        petitions_db.session.execute(text("ANALYZE signatures"))
        petitions_db.session.commit()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--people", type=int, default=30000)
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

    ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
    cluster = Cluster(process_specs(ports, workers=2), env, work / "logs")
    base = f"http://127.0.0.1:{ports['gateway']}/api/petitions"
    try:
        cluster.start()
        wrk(base + "/healthz", 2, 16)
        ping = rps(wrk(base + "/healthz", args.seconds, 64))
        results = {}
        for petition_id, clients in ((first, 8), (second, 64)):
            output = wrk(
                f"{base}/petitions/{petition_id}/signatures",
                args.seconds,
                clients,
                script,
                (str(tokens), str(min(clients, 2))),
            )
            created = accepted(output)
            results[clients] = (rps(output), created)
        started = time.monotonic()
        rows, distinct, counted = rows_and_counts(second)
        while counted != rows and time.monotonic() - started < 30:
            time.sleep(0.05)
            rows, distinct, counted = rows_and_counts(second)
        count_lag = time.monotonic() - started
        read = rps(wrk(f"{base}/petitions/{second}", args.seconds, 64))
        listing = f"{base}/petitions?sort=most_signed"
        listed = rps(wrk(listing, args.seconds, 64))
        http = urllib3.PoolManager()
        shown = json.loads(http.request("GET", f"{base}/petitions/{second}").data)["signatures"]

        print(f"preloading {args.preload} signatures…", file=sys.stderr)
        preload(ballast, args.preload)
        output = wrk(
            f"{base}/petitions/{beside}/signatures",
            args.seconds,
            64,
            script,
            (str(tokens), "2"),
        )
        sign_loaded = rps(output)
        listed_loaded = rps(wrk(listing, args.seconds, 64))
    finally:
        cluster.stop()
    rows_first, distinct_first, _ = rows_and_counts(first)
    # A 201 that wrk saw but no row holds would be lost. The reverse (rows for requests
    # still in flight when wrk stopped counting) is fine: those were accepted, unseen.
    lost = max(0, results[8][1] - rows_first) + max(0, results[64][1] - rows)
    duplicates = (rows_first - distinct_first) + (rows - distinct)
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"ping {ping:.0f}/s, sign c8 {results[8][0]:.0f}/s, c64 {results[64][0]:.0f}/s, "
        f"read {read:.0f}/s, list {listed:.0f}/s, shown count {shown}, rows {rows}; with "
        f"{args.preload} more signatures: sign c64 {sign_loaded:.0f}/s, list "
        f"{listed_loaded:.0f}/s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "ping_rps": round(ping, 1),
                "sign_rps_c8": round(results[8][0], 1),
                "sign_rps_c64": round(results[64][0], 1),
                "read_rps": round(read, 1),
                "sign_ratio": round(results[64][0] / ping, 3),
                "concurrency_ratio": round(results[64][0] / results[8][0], 3),
                "read_ratio": round(read / ping, 3),
                "count_lag_s": round(count_lag, 2),
                "lost": lost,
                "duplicates": duplicates,
                "list_rps": round(listed, 1),
                "sign_rps_c64_loaded": round(sign_loaded, 1),
                "list_rps_loaded": round(listed_loaded, 1),
                "sign_loaded_ratio": round(sign_loaded / results[64][0], 3),
                "list_loaded_ratio": round(listed_loaded / listed, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
