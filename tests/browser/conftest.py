"""Browser tests: `viche run` started as `make run` starts it, driven in headless Chromium.

They run when VICHE_BROWSER_TESTS=1 (CI sets it) with Debian's /usr/bin/chromium; the
driver's own browser download does not work here. Every page fails the test on a
console error. Screenshots of each step land in tests/browser/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import urllib3

from tests.support.smtp import free_port

CHROMIUM = os.environ.get("VICHE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a long resident passphrase"
MODERATOR_PASSWORD = "a long moderator passphrase"


def e164(phone: str) -> str:
    import phonenumbers

    return phonenumbers.format_number(
        phonenumbers.parse(phone, "UA"), phonenumbers.PhoneNumberFormat.E164
    )


SCREENSHOTS = Path(__file__).parent / "screenshots"
ENABLED = os.environ.get("VICHE_BROWSER_TESTS") == "1"

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")


class Suite:
    """A running embedded-mode server, with the CLI and HTTP at hand."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var = Path(tempfile.mkdtemp(prefix="viche-browser-"))
        self.env = {
            **os.environ,
            "VICHE_VAR_DIR": str(self.var),
            "LOG_LEVEL": "WARNING",
            "VICHE_PUBLIC_URL": self.url,
            "PORT": str(self.port),
            # The suite registers its people from one address, as a council's counter would.
            "VICHE_REGISTRATION_LIMIT_PER_CLIENT": "300/hour",
        }
        for name in ("AUTH", "POLLS", "PETITIONS"):
            self.env.pop(f"{name}_DATABASE_URL", None)  # embedded mode: SQLite under var/
        self.env.pop("REDIS_URL", None)
        self.http = urllib3.PoolManager(retries=False)
        self.process: subprocess.Popen | None = None

    def start(self) -> Suite:
        viche = Path(sys.executable).with_name("viche")
        with open(self.var / "server.log", "wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [str(viche), "run", "--port", str(self.port)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.request("GET", self.url + "/healthz").status == 200:
                    return self
            except urllib3.exceptions.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError((self.var / "server.log").read_text())
            time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
        shutil.rmtree(self.var, ignore_errors=True)

    def cli(self, *args: str) -> str:
        viche = Path(sys.executable).with_name("viche")
        done = subprocess.run(
            [str(viche), *args], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def api(self, method: str, path: str, json=None, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(method, self.url + path, json=json, headers=headers)
        return response.status, (response.json() if response.data else None)

    def outbox_links(self, to: str) -> list[str]:
        """Links in the newest dev-outbox message to `to` (what a person would click)."""
        listing = self.http.request("GET", self.url + "/api/auth/dev/outbox").data.decode()
        for row in listing.split("<tr")[1:]:
            if to in row:
                found = re.search(r'href="(/api/auth/dev/outbox/\d+)"', row)
                page = self.http.request("GET", self.url + found.group(1)).data.decode()
                return re.findall(r"https?://[^\s<>\"&]+(?:&amp;[^\s<>\"&]+)*", page)
        raise AssertionError(f"no message to {to}")

    def outbox_link(self, to: str, containing: str, timeout: float = 10) -> str:
        """The link holding `containing` in the newest message to `to`, once the delivery
        worker has queued it (what residents ask for by address waits for its pass)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [u for u in self.outbox_links(to) if containing in u]
            if found or time.monotonic() > deadline:
                assert found, f"no link with {containing} to {to}"
                return found[0]
            time.sleep(0.2)

    def sms_code(self, phone: str) -> str:
        """The code in the newest SMS to `phone` (as a person would read it)."""
        to = e164(phone)
        listing = self.http.request("GET", self.url + "/api/auth/dev/outbox").data.decode()
        for row in listing.split("<tr")[1:]:
            if to in row:
                found = re.search(r'href="(/api/auth/dev/outbox/\d+)"', row)
                page = self.http.request("GET", self.url + found.group(1)).data.decode()
                return re.search(r"\b(\d{6})\b", page).group(1)
        raise AssertionError(f"no SMS to {to}")

    def confirmed_account(self, email: str, password: str, name: str, phone: str) -> None:
        """An account registered through the API, its address confirmed by its link; its
        phone waits for a code."""
        account = {"name": name, "email": email, "password": password, "phone": phone}
        assert self.api("POST", "/api/auth/register", account)[0] == 202
        token = self.outbox_link(email, "email/confirm").split("token=", 1)[1]
        confirm = {"token": token, "password": password}
        assert self.api("POST", "/api/auth/email/confirm", confirm)[0] == 200

    def resident_token(self, email: str, phone: str) -> str:
        """A resident with a confirmed address and a verified phone, through the API; the
        access token that says so."""
        self.confirmed_account(email, PASSWORD, email.split("@")[0], phone)
        status, pair = self.api("POST", "/api/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, pair
        assert self.api("POST", "/api/auth/phone/code", None, pair["access_token"])[0] == 202
        verified = self.api(
            "POST", "/api/auth/phone/verify", {"code": self.sms_code(phone)}, pair["access_token"]
        )
        assert verified[0] == 200, verified
        status, fresh = self.api(
            "POST", "/api/auth/token/refresh", {"refresh_token": pair["refresh_token"]}
        )
        return fresh["access_token"]

    def moderator(self, council: str, email: str = "moderator@example.org") -> str:
        """An account confirmed by email, moderator and admin of `council`; its token."""
        password = MODERATOR_PASSWORD
        self.confirmed_account(email, password, "Moderator", _next_phone())
        for role in ("moderator", "admin"):
            self.cli("auth", "grant-role", council, email, role)
        status, pair = self.api("POST", "/api/auth/login", {"email": email, "password": password})
        assert status == 200, pair
        return pair["access_token"]


_phones = iter(range(1000, 9999))


def _next_phone() -> str:
    return f"067 555 {next(_phones):04d}"


@pytest.fixture(scope="session")
def suite():
    if not ENABLED:
        pytest.skip("browser tests run with VICHE_BROWSER_TESTS=1")
    running = Suite().start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    if not ENABLED:
        pytest.skip("browser tests run with VICHE_BROWSER_TESTS=1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, request):
    """Open pages, each in its own browser (its own cookies: another person), each
    failing the test on a console error, all saving numbered screenshots per step."""
    opened: list = []
    counter = {"n": 0}
    SCREENSHOTS.mkdir(exist_ok=True)

    def open_one(who: str = "resident", **context_options):
        context = browser.new_context(**context_options)
        new = context.new_page()
        new.errors = []
        new.on("console", lambda m: new.errors.append(m.text) if m.type == "error" else None)
        new.on("pageerror", lambda exc: new.errors.append(str(exc)))
        # A test that expects a page to refuse (a 409 for a second vote) says so here:
        # the browser logs the status of such a page as an error.
        new.expected_errors = []

        def shoot(step: str) -> None:
            counter["n"] += 1
            name = f"{request.node.name}-{counter['n']:02d}-{who}-{step}.png"
            new.screenshot(path=str(SCREENSHOTS / name))

        new.screenshot_step = shoot
        opened.append((context, new))
        return new

    yield open_one
    problems = []
    for context, one in opened:
        problems += [e for e in one.errors if not any(x in e for x in one.expected_errors)]
        context.close()
    assert problems == [], problems


@pytest.fixture
def page(open_page):
    """A fresh page that fails the test on any console error."""
    return open_page()


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def check_accessibility(page) -> None:
    """axe-core in the page: no serious or critical violations (npm install puts it in
    node_modules/; CI does)."""
    if not AXE.exists():
        raise AssertionError("axe-core is missing: run `npm install` at the repository root")
    # Evaluated through the driver, not as a <script>: the pages' own CSP forbids those.
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    assert found == [], found
