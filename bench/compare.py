"""The email flow of another commit against this checkout's, measured in one run.

    .venv/bin/python bench/compare.py BASE [--pairs 8] [--seconds 6] [--clients 16]

A shared 2-core host moves by a third between minutes, more than most changes move the
flow, so one full run of bench/polls.py before a change and one after cannot tell them
apart. This checks BASE out beside this checkout (a git worktree, removed afterwards),
starts both clusters at once, each with its own databases and SMTP server, and runs
their email flows in alternating pairs (A B, B A, …), so that the host's drift moves
both. For each flow: confirmed votes a second and the CPU per confirmed vote, by process;
at the end the medians and the median of the pairs' ratios (BASE over this checkout:
above 1, this checkout costs less). BASE needs a bench/polls.py with `email_flow`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run in each tree (its own code on sys.path): a cluster with an email poll; on each
# line "flow SECONDS" from stdin, one flow, answered with one JSON line.
DRIVER = """
import json, os, sys, tempfile
from pathlib import Path
sys.path[0] = os.getcwd()
import bench.polls as polls
from bench.kit import free_port
from gateway.distributed import Cluster, process_specs
sys.path.insert(0, sys.argv[1])  # this checkout's kit, the same for both trees
from kit_for_compare import CpuLedger, email_flow_env

work = Path(tempfile.mkdtemp(prefix="viche-compare-"))
inbox = polls.ConfirmationInbox()
smtp_port = free_port()
smtp = polls.smtp_sink(inbox, smtp_port)
ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
gateway = f"http://127.0.0.1:{ports['gateway']}"
env = email_flow_env(work, gateway, smtp_port)
os.environ.update(env)
_, _, poll, choice = polls.prepare(10, work / "tokens.txt")
cluster = Cluster(process_specs(ports, workers=2), env, work / "logs")
clients = int(sys.argv[2])
try:
    smtp.start()
    cluster.start()
    polls.email_flow(gateway, poll, choice, inbox, 3, clients, "w")  # warm up
    ledger = CpuLedger({name: p.pid for name, p in cluster.processes.items()})
    print("ready", flush=True)
    for n, line in enumerate(sys.stdin):
        ledger.start()
        seconds = float(line.split()[1])
        flow = polls.email_flow(gateway, poll, choice, inbox, seconds, clients, f"r{n}-")
        ledger.stop(str(n), flow["confirmed"])
        confirmed = max(1, flow["confirmed"])
        by = {name: 1000 * s / confirmed for name, s in ledger.spent[str(n)].items()}
        print(json.dumps({"rps": flow["rps"], "errors": flow["errors"], "by": by}), flush=True)
finally:
    cluster.stop()
    smtp.stop()
"""


def tree_at(base: str, work: Path) -> Path:
    """BASE checked out in `work`, sharing this checkout's virtualenv, its catalogues
    compiled."""
    tree = work / "base"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), base],
        check=True,
        capture_output=True,
    )
    (tree / ".venv").symlink_to(REPO / ".venv")
    subprocess.run(
        [
            str(REPO / ".venv/bin/pybabel"),
            "-q",
            "compile",
            "--use-fuzzy",
            "-d",
            str(tree / "services/common/translations"),
            "-D",
            "messages",
        ],
        check=True,
    )
    return tree


def start_driver(tree: Path, work: Path, clients: int, name: str) -> subprocess.Popen:
    driver = subprocess.Popen(
        [str(REPO / ".venv/bin/python"), "-c", DRIVER, str(work), str(clients)],
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(work / f"{name}.log").open("w"),
        text=True,
    )
    if driver.stdout.readline().strip() != "ready":
        driver.kill()
        sys.exit(f"the {name} cluster did not start: see {work / f'{name}.log'}")
    return driver


def flow(driver: subprocess.Popen, seconds: float) -> dict:
    driver.stdin.write(f"flow {seconds}\n")
    driver.stdin.flush()
    found = json.loads(driver.stdout.readline())
    found["cpu_ms"] = sum(found["by"].values())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare this checkout with")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0, help="each flow's length")
    parser.add_argument("--clients", type=int, default=16, help="voters in each flow")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="viche-compare-"))
    shutil.copy(REPO / "bench/kit.py", work / "kit_for_compare.py")
    drivers: dict[str, subprocess.Popen] = {}
    try:
        trees = {"base": tree_at(args.base, work), "this": REPO}
        print(f"starting both clusters ({args.base} and this checkout)…", file=sys.stderr)
        for name, tree in trees.items():
            drivers[name] = start_driver(tree, work, args.clients, name)
        flows: dict[str, list[dict]] = {"base": [], "this": []}
        for n in range(args.pairs):
            for name in ("base", "this") if n % 2 == 0 else ("this", "base"):
                found = flow(drivers[name], args.seconds)
                flows[name].append(found)
                parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(found["by"].items()))
                print(
                    f"{name}: {found['rps']:.1f}/s, {found['cpu_ms']:.2f} ms ({parts})",
                    file=sys.stderr,
                )
    finally:
        for driver in drivers.values():
            driver.stdin.close()
            driver.wait(60)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "base")],
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    ratios = [
        base["cpu_ms"] / this["cpu_ms"]
        for base, this in zip(flows["base"], flows["this"], strict=True)
    ]
    print(
        json.dumps(
            {
                "base_rps": round(statistics.median(f["rps"] for f in flows["base"]), 1),
                "this_rps": round(statistics.median(f["rps"] for f in flows["this"]), 1),
                "base_cpu_ms": round(statistics.median(f["cpu_ms"] for f in flows["base"]), 2),
                "this_cpu_ms": round(statistics.median(f["cpu_ms"] for f in flows["this"]), 2),
                "cpu_ratio": round(statistics.median(ratios), 3),
                "cpu_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
                "errors": sum(f["errors"] for fs in flows.values() for f in fs),
            }
        )
    )


if __name__ == "__main__":
    main()
