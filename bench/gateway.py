"""What the gateway costs: one health endpoint, three ways, in one run.

    .venv/bin/python bench/gateway.py [--seconds 10] [--connections 32] [--rounds 2]

1. direct    wrk -> auth under gunicorn                         (the baseline)
2. gateway   wrk -> distributed gateway (asyncio) -> auth under gunicorn
3. embedded  wrk -> embedded mode under gunicorn (dispatch in-process)

Every Python server gets the same worker settings (2 workers, 16 threads; the gateway one
asyncio worker). Paths are measured in alternation over several rounds and the median
kept, so that a noisy neighbour skews all three alike. The rate limiter stays on, with a
limit too high to trip. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)  # not bench/, whose gateway.py would shadow the package

from bench.kit import free_port, rps, without_errors  # noqa: E402
from bench.kit import wrk as wrk_run  # noqa: E402
from gateway.distributed import Cluster, gunicorn_argv, process_specs  # noqa: E402

WORKERS = 2


def wrk(url: str, seconds: int, connections: int) -> float:
    return rps(without_errors(wrk_run(url, seconds, connections), url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="viche-bench-"))
    env = {
        "VICHE_VAR_DIR": str(work),
        "LOG_LEVEL": "WARNING",
        "VICHE_RATE_LIMIT": "1000000000/minute",
        "REDIS_URL": "",
    }
    os.environ.update(env)
    from gateway.cli import migrate_all

    migrate_all()
    ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
    specs = process_specs(ports, workers=WORKERS, gateway_workers=1)
    embedded_port = free_port()
    embedded = Cluster([], env, work / "logs")
    from gateway.distributed import ProcessSpec

    embedded.specs["embedded"] = ProcessSpec(
        "embedded",
        embedded_port,
        gunicorn_argv("gateway.embedded:create_embedded_app()", embedded_port, workers=WORKERS),
    )
    cluster = Cluster(specs, env, work / "logs")
    urls = {
        "direct": f"http://127.0.0.1:{ports['auth']}/healthz",
        "gateway": f"http://127.0.0.1:{ports['gateway']}/api/auth/healthz",
        "embedded": f"http://127.0.0.1:{embedded_port}/api/auth/healthz",
    }
    results: dict[str, list[float]] = {name: [] for name in urls}
    try:
        cluster.start()
        embedded.start()
        for url in urls.values():  # warm up connections and caches
            wrk(url, 2, args.connections)
        for _round in range(args.rounds):
            for name, url in urls.items():
                rps = wrk(url, args.seconds, args.connections)
                results[name].append(rps)
                print(f"{name:9} {rps:10.1f} req/s", file=sys.stderr)
    finally:
        cluster.stop()
        embedded.stop()
        shutil.rmtree(work, ignore_errors=True)

    direct = statistics.median(results["direct"])
    gateway = statistics.median(results["gateway"])
    embedded_rps = statistics.median(results["embedded"])
    print(
        json.dumps(
            {
                "direct_rps": round(direct, 1),
                "gateway_rps": round(gateway, 1),
                "embedded_rps": round(embedded_rps, 1),
                "gateway_ratio": round(gateway / direct, 3),
                "embedded_ratio": round(embedded_rps / direct, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
