"""Voting under load, in distributed mode on PostgreSQL, against the health baseline.

    .venv/bin/python bench/polls.py [--seconds 5] [--rounds 3] [--people 30000]
                                    [--flow-seconds 10] [--flow-clients 16]

Starts every service under gunicorn behind the gateway, auth's outbox worker sending
through a real SMTP server (aiosmtpd, in this process), creates verified people and
their tokens up front, and measures in one run through the gateway, round after round:
the health endpoint (ping), `account` votes at 64 clients (each request a different
person, every round new people), and reading the results once those votes are folded
in; then the whole `email` flow (request the vote → the email leaves through the
outbox and arrives by SMTP → the voter opens the link's page on auth and presses
Confirm → polls counts the vote) at the rate it sustains, in rounds too, each flow
drained before the next measurement. The health baseline is taken before the first
round and after every measurement; each vote, results and email flow rate is compared
with the mean of the baselines on either side of it (the host drifts within a minute).
Rates are medians over the rounds, ratios medians of those comparisons.
Afterwards every acknowledged vote must be a ballot, and every pressed link a counted
vote (`lost` counts what is not). Before the last line, where the CPU went per health
check, per vote and per confirmed email vote, by process (Linux). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import email
import html
import json
import os
import queue
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)

from bench.kit import (  # noqa: E402
    TOKEN_POST_LUA,
    CpuLedger,
    Measurements,
    People,
    accepted,
    email_flow_env,
    free_port,
    median,
    requests_sent,
    rps,
    without_errors,
    write_tokens,
    wrk,
)
from gateway.distributed import Cluster, process_specs  # noqa: E402

TOKEN_IN_LINK = re.compile(r"/api/auth/verify\?token=([A-Za-z0-9_.\-]+)")
PAGE_FORM = re.compile(r'<form method="post" action="([^"]*)">(.*?)</form>', re.S)
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class ConfirmationInbox:
    """aiosmtpd handler: every confirmation link that arrives goes into a queue."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[str] = queue.Queue()
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        # The compat32 parser: the modern policy's header objects cost 4 ms a message,
        # which this process would take from the services on the same cores.
        message = email.message_from_bytes(envelope.content)
        text = next(
            part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
            for part in message.walk()
            if part.get_content_type() == "text/plain"
        )
        found = TOKEN_IN_LINK.search(text)
        if found:
            self.received += 1
            self.tokens.put(found.group(1))
        return "250 OK"


# A plain <local@domain>, as the outbox's SMTP client sends MAIL FROM and RCPT TO.
PLAIN_ADDRESS = re.compile(r"\s*<([^<>@\s]+@[^<>@\s]+)>(.*)", re.S)


def smtp_sink(handler, port: int):
    """aiosmtpd on `port`, handing messages to `handler`. Its own reading of an address
    builds a typing.Protocol class on every call, half of what a message cost the bench
    (on the services' cores): plain addresses are read here, any other by aiosmtpd."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class Sink(SMTP):
        def _getaddr(self, arg):
            plain = PLAIN_ADDRESS.fullmatch(arg or "")
            return plain.groups() if plain else super()._getaddr(arg)

    class SinkController(Controller):
        def factory(self):
            return Sink(self.handler, **self.SMTP_kwargs)

    return SinkController(handler, hostname="127.0.0.1", port=port)


def prepare(people: int, tokens_file: Path) -> tuple[int, int, int, int]:
    """A council, an account poll, an email poll, and `people` verified residents."""
    from gateway.cli import migrate_all, service_app_context
    from services.auth.councils.domain import create_council
    from services.auth.models import db as auth_db
    from services.common.timeutil import utcnow
    from services.polls.models import CouncilPolicy, Option, Poll
    from services.polls.models import db as polls_db

    migrate_all()
    with service_app_context("auth") as auth:
        create_council(auth_db.session, slug="bench", name="Bench", default_language="uk")
        write_tokens(auth, tokens_file, people, "v")
    with service_app_context("polls"):
        polls_db.session.add(CouncilPolicy(council="bench", widget_origins=[]))
        polls = []
        for method in ("account", "email"):
            poll = Poll(
                council="bench",
                question=f"Where do you hear about the community's events? ({method})",
                method=method,
                state="open",
                opens_at=utcnow(),
                created_by="bench",
            )
            poll.options = [
                Option(position=i, label=label)
                for i, label in enumerate(["Website", "Facebook", "Telegram", "Notice board"])
            ]
            polls_db.session.add(poll)
            polls.append(poll)
        polls_db.session.commit()
        return polls[0].id, polls[0].options[2].id, polls[1].id, polls[1].options[2].id


def ballots(poll_id: int) -> int:
    from sqlalchemy import func, select

    from gateway.cli import service_app_context
    from services.polls.models import Ballot
    from services.polls.models import db as polls_db

    with service_app_context("polls"):
        return polls_db.session.scalar(
            select(func.count(Ballot.id)).where(Ballot.poll_id == poll_id)
        )


def folded_voters(poll_id: int) -> int:
    from gateway.cli import service_app_context
    from services.polls.models import Poll
    from services.polls.models import db as polls_db
    from services.polls.tallies import stored_tallies

    with service_app_context("polls"):
        return stored_tallies(polls_db.session, polls_db.session.get(Poll, poll_id))[0]


def wait_until_folded(poll_id: int, limit: float = 30) -> None:
    """Until the stored tally holds every ballot: reads then measure reading, not folding."""
    deadline = time.monotonic() + limit
    while folded_voters(poll_id) != ballots(poll_id) and time.monotonic() < deadline:
        time.sleep(0.05)


class Client:
    """One keep-alive HTTP/1.1 connection to the gateway, per thread, spoken here: the
    bench runs on the cores the services use, and http.client parses every answer's
    headers with the email package, a third of what a request costs the bench."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.address = (parts.hostname, parts.port or 80)
        self.host = parts.netloc
        self.sock: socket.socket | None = None
        self.answers = None

    def close(self) -> None:
        if self.sock is not None:
            self.answers.close()
            self.sock.close()
        self.sock = self.answers = None

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = ""):
        """(status, Location header, body) of one request; once more on a dropped
        connection."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address, timeout=30)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.answers = self.sock.makefile("rb")
                self.sock.sendall(head.encode() + b"\r\n" + body)
                return self._answer()
            except (ConnectionError, ValueError):  # dropped, or cut off mid-answer
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, str | None, bytes]:
        status_line = self.answers.readline()
        if not status_line:
            raise ConnectionResetError("the gateway closed the connection")
        status = int(status_line.split()[1])
        headers = {}
        while (line := self.answers.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.answers.readline().split(b";")[0], 16):
                chunks.append(self.answers.read(size))
                self.answers.readline()
            while self.answers.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            body = b"".join(chunks)
        else:
            body = self.answers.read(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers.get("location"), body


def email_flow(
    base: str, poll_id: int, choice: int, inbox, seconds: float, clients: int, who: str = "v"
) -> dict:
    """Request email votes for `seconds` with `clients` voters, confirm every link that
    arrives; the confirmed rate over the whole flow and what was acknowledged."""
    stop_requests = threading.Event()
    counters = {"requested": 0, "confirmed": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()
    last_confirmed = [0.0]

    def voter(n: int) -> None:
        client = Client(base)
        sent = 0
        while not stop_requests.is_set():
            sent += 1
            body = json.dumps({"email": f"{who}{n}-{sent}@bench.example.org", "choices": [choice]})
            status, _, _ = client.request(
                "POST",
                f"/api/polls/polls/{poll_id}/email-votes",
                body.encode(),
                "application/json",
            )
            with lock:
                counters["requested" if status == 202 else "errors"] += 1

    def confirmer() -> None:
        client = Client(base)
        while True:
            try:
                token = inbox.tokens.get(timeout=0.5)
            except queue.Empty:
                if done_confirming.is_set():
                    return
                continue
            # As the voter does: open the link (its page shows the vote and a button),
            # then press Confirm: its form's POST.
            status, _, page = client.request(
                "GET", f"/api/auth/verify?{urlencode({'token': token})}"
            )
            form = PAGE_FORM.search(page.decode())
            if status != 200 or form is None:
                with lock:
                    counters["errors"] += 1
                continue
            action, fields = form.group(1), dict(HIDDEN_FIELD.findall(form.group(2)))
            status, _, _ = client.request(
                "POST",
                urlsplit(html.unescape(action)).path,
                urlencode({k: html.unescape(v) for k, v in fields.items()}).encode(),
                "application/x-www-form-urlencoded",
            )
            with lock:
                if status == 200:
                    counters["confirmed"] += 1
                    last_confirmed[0] = time.monotonic()
                else:
                    counters["refused"] += 1

    done_confirming = threading.Event()
    started = time.monotonic()
    voters = [threading.Thread(target=voter, args=(n,)) for n in range(clients)]
    confirmers = [threading.Thread(target=confirmer) for _ in range(clients)]
    for thread in voters + confirmers:
        thread.start()
    time.sleep(seconds)
    stop_requests.set()
    for thread in voters:
        thread.join()
    # Let the outbox drain and every link be confirmed (or give up after a while).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if counters["confirmed"] + counters["refused"] >= counters["requested"]:
                break
        time.sleep(0.1)
    done_confirming.set()
    for thread in confirmers:
        thread.join()
    elapsed = (last_confirmed[0] or time.monotonic()) - started
    return {**counters, "rps": counters["confirmed"] / elapsed if elapsed else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="each measurement's window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flow-seconds", type=int, default=10)
    parser.add_argument("--people", type=int, default=30000)
    parser.add_argument("--flow-clients", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="viche-bench-polls-"))
    inbox = ConfirmationInbox()
    smtp_port = free_port()
    smtp = smtp_sink(inbox, smtp_port)
    ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    env = email_flow_env(work, gateway_url, smtp_port)
    os.environ.update(env)
    tokens = work / "tokens.txt"
    script = work / "vote.lua"
    script.write_text(TOKEN_POST_LUA)
    print("preparing people and polls…", file=sys.stderr)
    account_poll, account_choice, email_poll, email_choice = prepare(args.people, tokens)
    base = f"{gateway_url}/api/polls"

    people = People(tokens, script, args.people)
    vote_body = json.dumps({"choices": [account_choice]})
    runs = Measurements()
    votes_acknowledged = 0
    flows = {"requested": 0, "confirmed": 0, "refused": 0, "errors": 0}  # every round's

    cluster = Cluster(process_specs(ports, workers=2), env, work / "logs")
    try:
        smtp.start()
        cluster.start()
        wrk(base + "/healthz", 2, 16)
        ledger = CpuLedger({name: process.pid for name, process in cluster.processes.items()})

        def ping() -> None:
            ledger.start()
            output = wrk(base + "/healthz", args.seconds, 64)
            ledger.stop("health check", requests_sent(output))
            runs.add("ping", rps(without_errors(output, "health")))

        # The baseline is taken before the first round and after each measurement, so
        # that each is compared with the baselines on either side of it.
        ping()
        for _ in range(args.rounds):
            ledger.start()
            output = people.post(f"{base}/polls/{account_poll}/votes", args.seconds, 64, vote_body)
            ledger.stop("vote", requests_sent(output))
            runs.add("votes", rps(output))
            votes_acknowledged += accepted(output)
            # Results are read as petitions are: once the votes are folded in.
            wait_until_folded(account_poll)
            ping()
            read = wrk(f"{base}/polls/{account_poll}/results", args.seconds, 64)
            runs.add("results", rps(without_errors(read, "results")))
            ping()
        # Last: it leaves deliveries running that would slow whatever came next. First
        # a few seconds unmeasured, as the health check's: every worker's first votes
        # by email load its templates and translations. Then in rounds, as the rest,
        # each flow drained (every link confirmed) before the baseline after it: one
        # flow's rate moved by half between two runs of the same code.
        warm_up = email_flow(
            gateway_url, email_poll, email_choice, inbox, 3, args.flow_clients, "w"
        )
        emails_before = inbox.received
        for round_ in range(args.rounds):
            ledger.start()
            flow = email_flow(
                gateway_url,
                email_poll,
                email_choice,
                inbox,
                args.flow_seconds,
                args.flow_clients,
                f"v{round_}-",
            )
            ledger.stop("confirmed vote", flow["confirmed"])
            runs.add("email flow", flow["rps"])
            for counter in flows:
                flows[counter] += flow[counter]
            ping()
    finally:
        cluster.stop()
        smtp.stop()
    emails = inbox.received - emails_before
    account_ballots, email_ballots = ballots(account_poll), ballots(email_poll)
    email_confirmed = warm_up["confirmed"] + flows["confirmed"]
    # Lost: an acknowledged vote that is no ballot, and an email vote whose request was
    # acknowledged but whose link, when pressed, was refused.
    lost = (
        max(0, votes_acknowledged - account_ballots)
        + max(0, email_confirmed - email_ballots)
        + warm_up["refused"]
        + flows["refused"]
    )
    shutil.rmtree(work, ignore_errors=True)

    figures = {
        name: median(runs.values(name)) for name in ("ping", "votes", "results", "email flow")
    }
    print(
        f"medians of {args.rounds} rounds: ping {figures['ping']:.0f}/s, account votes "
        f"{figures['votes']:.0f}/s ({votes_acknowledged} acknowledged in all, "
        f"{account_ballots} ballots), results {figures['results']:.0f}/s; email flow "
        f"{figures['email flow']:.0f} confirmed/s ({flows['requested']} requested, {emails} "
        f"emails, {flows['confirmed']} confirmed, {flows['refused']} refused, "
        f"{flows['errors']} errors; {email_ballots} ballots with the warm-up's "
        f"{warm_up['confirmed']}); every round: "
        + json.dumps([[name, round(rate)] for name, rate in runs.taken]),
        file=sys.stderr,
    )
    for what in ("health check", "vote", "confirmed vote"):
        print(f"CPU per {what}: {ledger.per(what)}", file=sys.stderr)
    print(
        json.dumps(
            {
                "ping_rps": round(figures["ping"], 1),
                "vote_rps": round(figures["votes"], 1),
                "email_flow_rps": round(figures["email flow"], 1),
                "results_rps": round(figures["results"], 1),
                "vote_ratio": round(runs.ratio("votes", "ping"), 3),
                "results_ratio": round(runs.ratio("results", "ping"), 3),
                "email_flow_ratio": round(runs.ratio("email flow", "ping"), 4),
                "lost": lost,
            }
        )
    )


if __name__ == "__main__":
    main()
