"""The email flow (or account votes, or reading results) of another commit against this
checkout's, in one run.

    .venv/bin/python bench/compare.py BASE [--pairs 8] [--seconds 6] [--clients 16]
                                           [--votes [--people 60000] | --results]

A shared 2-core host moves by a third between minutes, more than most changes move the
flow, so one full run of bench/polls.py before a change and one after cannot tell them
apart. This checks BASE out beside this checkout (a git worktree, removed afterwards),
starts both clusters at once, each with its own databases and SMTP server, and runs
their email flows in alternating pairs (A B, B A, …), so that the host's drift moves
both. For each flow: confirmed votes a second and the CPU per confirmed vote, by process;
at the end the medians and the median of the pairs' ratios (BASE over this checkout:
above 1, this checkout costs less). BASE needs a bench/polls.py with `email_flow`.

With `--votes`, account votes instead, as bench/polls.py measures them (64 clients, a
new person each request): each turn is a health baseline, votes, and the baseline
again, and the figures are each tree's votes against the mean of its baselines around
them (bench/polls.py's `vote_ratio`: here `votes_ratio`), and the CPU per vote. With
`--results`, the same for reading the account poll's results (`results_ratio`).
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

# Run in each tree (its own code on sys.path): a cluster with an email poll and an
# account poll; on each line from stdin, "flow SECONDS" (one flow), "votes SECONDS",
# "results SECONDS" or "ping SECONDS" (a wrk run at 64 clients), answered with one JSON
# line.
DRIVER = """
import json, os, sys, tempfile
from pathlib import Path
sys.path[0] = os.getcwd()
import bench.polls as polls
from bench.kit import free_port
from gateway.distributed import Cluster, process_specs
sys.path.insert(0, sys.argv[1])  # this checkout's kit, the same for both trees
from kit_for_compare import (
    TOKEN_POST_LUA, CpuLedger, People, email_flow_env, requests_sent, rps, wrk
)

work = Path(tempfile.mkdtemp(prefix="viche-compare-"))
inbox = polls.ConfirmationInbox()
smtp_port = free_port()
smtp = polls.smtp_sink(inbox, smtp_port)
ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
gateway = f"http://127.0.0.1:{ports['gateway']}"
env = email_flow_env(work, gateway, smtp_port)
os.environ.update(env)
people = int(sys.argv[3])
account_poll, account_choice, poll, choice = polls.prepare(people, work / "tokens.txt")
(work / "vote.lua").write_text(TOKEN_POST_LUA)
voters = People(work / "tokens.txt", work / "vote.lua", people)
vote_body = json.dumps({"choices": [account_choice]})
api = f"{gateway}/api/polls"
cluster = Cluster(process_specs(ports, workers=2), env, work / "logs")
clients = int(sys.argv[2])
try:
    smtp.start()
    cluster.start()
    polls.email_flow(gateway, poll, choice, inbox, 3, clients, "w")  # warm up
    if people > 10:
        voters.post(f"{api}/polls/{account_poll}/votes", 2, 64, vote_body)
    ledger = CpuLedger({name: p.pid for name, p in cluster.processes.items()})
    print("ready", flush=True)
    for n, line in enumerate(sys.stdin):
        what, seconds = line.split()[0], float(line.split()[1])
        ledger.start()
        if what == "flow":
            flow = polls.email_flow(gateway, poll, choice, inbox, seconds, clients, f"r{n}-")
            count, rate, errors = flow["confirmed"], flow["rps"], flow["errors"]
        else:
            if what == "votes":
                url = f"{api}/polls/{account_poll}/votes"
                output = voters.post(url, int(seconds), 64, vote_body)
            elif what == "results":
                output = wrk(f"{api}/polls/{account_poll}/results", int(seconds), 64)
            else:
                output = wrk(f"{api}/healthz", int(seconds), 64)
            count, rate, errors = requests_sent(output), rps(output), int("Non-2xx" in output)
        ledger.stop(str(n), count)
        by = {name: 1000 * s / max(1, count) for name, s in ledger.spent[str(n)].items()}
        print(json.dumps({"rps": rate, "errors": errors, "by": by}), flush=True)
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


def start_driver(tree: Path, work: Path, clients: int, people: int, name: str) -> subprocess.Popen:
    driver = subprocess.Popen(
        [str(REPO / ".venv/bin/python"), "-c", DRIVER, str(work), str(clients), str(people)],
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(work / f"{name}.log").open("w"),
        text=True,
    )
    if driver.stdout.readline().strip() != "ready":
        driver.kill()
        driver.wait()
        log = (work / f"{name}.log").read_text().splitlines()[-20:]  # work goes at exit
        sys.exit(f"the {name} cluster did not start:\n" + "\n".join(log))
    return driver


def ask(driver: subprocess.Popen, what: str, seconds: float) -> dict:
    """One measurement ("flow", "votes", "results" or "ping") of `seconds`: its rate, errors and
    CPU per request (or confirmed vote), in all and by process."""
    driver.stdin.write(f"{what} {seconds}\n")
    driver.stdin.flush()
    found = json.loads(driver.stdout.readline())
    found["cpu_ms"] = sum(found["by"].values())
    return found


def turn_against_baseline(driver: subprocess.Popen, what: str, seconds: float) -> dict:
    """Votes or results between two health baselines: their rate against the
    baselines' mean."""
    before = ask(driver, "ping", seconds)
    found = ask(driver, what, seconds)
    after = ask(driver, "ping", seconds)
    found["ratio"] = found["rps"] / ((before["rps"] + after["rps"]) / 2)
    found["errors"] += before["errors"] + after["errors"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare this checkout with")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0, help="each measurement's length")
    parser.add_argument("--clients", type=int, default=16, help="voters in each flow")
    parser.add_argument("--votes", action="store_true", help="account votes, not the flow")
    parser.add_argument("--people", type=int, default=60000, help="voters made for --votes")
    parser.add_argument("--results", action="store_true", help="reading results, not the flow")
    args = parser.parse_args()
    against_baseline = "votes" if args.votes else "results" if args.results else None
    people = args.people if args.votes else 10
    work = Path(tempfile.mkdtemp(prefix="viche-compare-"))
    shutil.copy(REPO / "bench/kit.py", work / "kit_for_compare.py")
    drivers: dict[str, subprocess.Popen] = {}
    try:
        trees = {"base": tree_at(args.base, work), "this": REPO}
        print(f"starting both clusters ({args.base} and this checkout)…", file=sys.stderr)
        for name, tree in trees.items():
            drivers[name] = start_driver(tree, work, args.clients, people, name)
        turns: dict[str, list[dict]] = {"base": [], "this": []}
        for n in range(args.pairs):
            for name in ("base", "this") if n % 2 == 0 else ("this", "base"):
                if against_baseline:
                    found = turn_against_baseline(drivers[name], against_baseline, args.seconds)
                else:
                    found = ask(drivers[name], "flow", args.seconds)
                turns[name].append(found)
                parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(found["by"].items()))
                ratio = f", ratio {found['ratio']:.3f}" if against_baseline else ""
                print(
                    f"{name}: {found['rps']:.1f}/s{ratio}, {found['cpu_ms']:.2f} ms ({parts})",
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
        for base, this in zip(turns["base"], turns["this"], strict=True)
    ]
    figures = {
        "base_rps": round(statistics.median(f["rps"] for f in turns["base"]), 1),
        "this_rps": round(statistics.median(f["rps"] for f in turns["this"]), 1),
        "base_cpu_ms": round(statistics.median(f["cpu_ms"] for f in turns["base"]), 3),
        "this_cpu_ms": round(statistics.median(f["cpu_ms"] for f in turns["this"]), 3),
        "cpu_ratio": round(statistics.median(ratios), 3),
        "cpu_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
    }
    if against_baseline:
        for name in ("base", "this"):
            figures[f"{name}_{against_baseline}_ratio"] = round(
                statistics.median(f["ratio"] for f in turns[name]), 3
            )
    figures["errors"] = sum(f["errors"] for fs in turns.values() for f in fs)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
