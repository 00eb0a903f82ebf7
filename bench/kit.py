"""What every benchmark here shares: free ports, wrk runs, and tokens made up front."""

from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
from pathlib import Path

# Each request a different person: POST `body` with the next token from a file, after
# the first `offset` lines (people an earlier run used), split between wrk's threads.
# The requests are built up front and no Lua looks at the answers (wrk's own count of
# non-2xx answers says which were refused): wrk runs on the cores the services use, and
# a request built per call, or an answer handed to Lua, would cost it more per request
# than a fixed request does in the health baseline.
TOKEN_POST_LUA = """
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local index = 0
  local offset = tonumber(args[4] or "0")
  local body = args[3] or "{}"
  requests = {}
  for line in io.lines(args[1]) do
    index = index + 1
    if index > offset and (index - offset) % tonumber(args[2]) == id - 1 then
      table.insert(requests, wrk.format("POST", nil, {["Authorization"] = "Bearer " .. line,
                                                      ["Content-Type"] = "application/json"}, body))
    end
  end
  position = 0
end

function request()
  position = position + 1
  return requests[(position - 1) % #requests + 1]
end

-- How far the furthest thread went: its people run that far into the file, whatever
-- the others did (the threads take turns person by person, but not at one pace).
function done(summary, latency, all)
  local furthest = 0
  for _, thread in ipairs(threads) do
    furthest = math.max(furthest, thread:get("position"))
  end
  io.write(string.format("furthest thread: %d requests\\n", furthest))
end
"""


def scratch_postgres() -> dict[str, str]:
    """`<SERVICE>_DATABASE_URL`s of databases for this run only, dropped when it exits
    (a run leaves a million signatures behind otherwise)."""
    from gateway.distributed import postgres_urls

    urls = postgres_urls(prefix=f"viche_bench_{os.getpid()}")
    atexit.register(_drop_databases, list(urls.values()))
    return urls


def email_flow_env(work: Path, gateway_url: str, smtp_port: int) -> dict[str, str]:
    """A cluster's environment for the email vote flow: its files under `work`, scratch
    databases, mail through the SMTP server on `smtp_port`, links to `gateway_url`, and
    no rate limit in the flow's way."""
    return {
        "VICHE_VAR_DIR": str(work),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "VICHE_RATE_LIMIT": "1000000000/minute",
        "VICHE_EMAIL_VOTE_LIMIT_PER_CLIENT": "1000000000/hour",
        "VICHE_PUBLIC_URL": gateway_url,
        "VICHE_EMAIL_BACKEND": "smtp",
        "VICHE_SMTP_HOST": "127.0.0.1",
        "VICHE_SMTP_PORT": str(smtp_port),
        "VICHE_DEV_OUTBOX": "0",
        **scratch_postgres(),
    }


def _drop_databases(urls: list[str]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    for url in urls:
        parsed = make_url(url)
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(
    url: str,
    seconds: int,
    connections: int,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
    threads: int | None = None,
) -> str:
    """wrk's report of a run against `url`."""
    threads = threads or min(connections, 2)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def rps(output: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def accepted(output: str) -> int:
    """Requests answered 2xx (sign and vote answer no 3xx)."""
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return requests_sent(output) - (int(refused.group(1)) if refused else 0)


def requests_sent(output: str) -> int:
    """Requests wrk completed: with TOKEN_POST_LUA, the people it used."""
    return int(re.search(r"(\d+) requests in", output).group(1))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class Measurements:
    """Rates in the order they were taken, each compared with the baselines taken on
    either side of it: a shared 2-core host drifts by a third within a minute, and a
    baseline taken only before a measurement moves with the host as much as the
    measurement does. Take a baseline first, then one after each stretch of others."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, float]] = []

    def add(self, name: str, rate: float) -> float:
        self.taken.append((name, rate))
        return rate

    def values(self, name: str) -> list[float]:
        return [rate for taken, rate in self.taken if taken == name]

    def ratios(self, name: str, baseline: str) -> list[float]:
        """Each `name` rate over the mean of the nearest `baseline` before and after it
        (only one of them, where the other was not taken)."""
        found = []
        for at, (taken, rate) in enumerate(self.taken):
            if taken != name:
                continue
            before = [r for t, r in reversed(self.taken[:at]) if t == baseline][:1]
            after = [r for t, r in self.taken[at + 1 :] if t == baseline][:1]
            around = before + after
            if not around:
                raise ValueError(f"no {baseline} was taken around {name}")
            found.append(rate / (sum(around) / len(around)))
        return found

    def ratio(self, name: str, baseline: str) -> float:
        """The median of `ratios`."""
        return median(self.ratios(name, baseline))


class People:
    """Hands out fresh people from a tokens file, run after run: nobody signs or votes
    twice, and no token is checked twice (a remembered token would flatter the rate)."""

    def __init__(self, tokens: Path, script: Path, size: int) -> None:
        self.tokens, self.script, self.size, self.used = tokens, script, size, 0

    def post(self, url: str, seconds: int, clients: int, body: str = "{}") -> str:
        if self.used >= self.size:
            raise RuntimeError("out of people: raise --people")
        threads = min(clients, 2)
        args = (str(self.tokens), str(threads), body, str(self.used))
        output = wrk(url, seconds, clients, self.script, args)
        # Every request sent, those still in flight at the end too, up to the furthest
        # thread's last person: counting only those answered, a faster thread's last
        # people came again in the next run, and were refused as having voted.
        furthest = int(re.search(r"furthest thread: (\d+) requests", output).group(1))
        self.used += furthest * threads
        if self.used > self.size:
            raise RuntimeError("the run went round the people again: raise --people")
        return output


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far), from Linux's /proc.
    A process's figure holds its children that ended and were waited for (a PostgreSQL
    backend that closed, taken in by the server's main process), so that a process
    ending between two readings takes nothing away from them."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid …": the name may hold spaces, so split after its ")".
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime, stime, cutime, cstime
        found[int(entry.name)] = (int(fields[1]), name, sum(map(int, fields[11:15])) / tick)
    return found


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process with all its descendants, by the
    PostgreSQL server's processes ("postgres") and by this process with the load
    generators it ran (wrk) ("bench"). Linux only (/proc); elsewhere, nothing."""
    if not Path("/proc/self/stat").exists():
        return {}
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)

    def tree(pid: int) -> float:
        return stats.get(pid, (0, "", 0.0))[2] + sum(tree(c) for c in children.get(pid, []))

    used = {name: tree(pid) for name, pid in roots.items()}
    used["postgres"] = sum(cpu for _, name, cpu in stats.values() if name == "postgres")
    times = os.times()
    used["bench"] = times.user + times.system + times.children_user + times.children_system
    return used


class CpuLedger:
    """Where the CPU of measured stretches went, per process, per request (or vote):
    `start()` before a stretch, `stop(what, count)` after it; stretches of one kind add
    up over the rounds."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.spent: dict[str, dict[str, float]] = {}
        self.counts: dict[str, int] = {}
        self._started: dict[str, float] = {}

    def start(self) -> None:
        self._started = cpu_seconds(self.processes)

    def stop(self, what: str, count: int) -> None:
        now = cpu_seconds(self.processes)
        spent = self.spent.setdefault(what, {})
        for name, seconds in now.items():
            spent[name] = spent.get(name, 0.0) + seconds - self._started.get(name, seconds)
        self.counts[what] = self.counts.get(what, 0) + count

    def per(self, what: str) -> str:
        """ "1.4 ms (petitions 0.95, gateway 0.24, …)", or "not measured"."""
        count = self.counts.get(what, 0)
        if not count or not self.spent.get(what):
            return "not measured"
        spent = {name: s * 1000 / count for name, s in self.spent[what].items()}
        parts = [f"{name} {ms:.2f}" for name, ms in sorted(spent.items(), key=lambda kv: -kv[1])]
        return f"{sum(spent.values()):.2f} ms (" + ", ".join(parts) + ")"


def without_errors(output: str, what: str) -> str:
    if "Non-2xx" in output:
        raise RuntimeError(f"{what} answered errors during the run:\n{output}")
    return output


def write_tokens(auth_app, path: Path, people: int, prefix: str, **claims) -> None:
    """`people` access tokens, one per line, as auth issues them (claims per person:
    a distinct mailbox and phone hash each)."""
    from services.auth.keys import issue_access_token
    from services.auth.models import db as auth_db

    base = {"email_verified": True, "phone_verified": True, "roles": {}, "name": "Bench"}
    with path.open("w") as out:
        for n in range(people):
            token = issue_access_token(
                auth_db.session,
                secret=auth_app.config["SECRET_KEY"],
                issuer=auth_app.config["JWT_ISSUER"],
                audience=auth_app.config["JWT_AUDIENCE"],
                subject=f"{prefix}{n}",
                claims={
                    **base,
                    "email_hash": f"{prefix}-mailbox-{n}",
                    "phone_hash": f"{prefix}-phone-{n}",
                    **claims,
                },
            )
            out.write(token + "\n")
