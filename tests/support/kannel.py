"""A real Kannel for tests: bearerbox with a fake SMSC, smsbox, and fakesmsc as the phone.

The SMS leaves through Kannel's HTTP sendsms interface exactly as in production;
fakesmsc plays the operator's SMSC and prints every message it is handed, which is
where a test reads the code. Skipped with a reason when Kannel is not installed, unless
VICHE_KANNEL_TESTS=1 (CI), where a missing Kannel is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import urllib3

from .smtp import free_port

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def _decode(coding: str, data: str) -> str:
    raw = urllib.parse.unquote_to_bytes(data.replace("+", "%20"))
    return raw.decode("utf-16-be") if coding == "ucs-2" else raw.decode("utf-8", "replace")


class Kannel:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("admin", "smsbox", "sendsms", "smsc")}
        self.username, self.password = "viche", "test-password"
        self.processes: list[subprocess.Popen] = []
        self.fake_log = workdir / "fakesmsc.log"

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def config(self) -> dict:
        """Auth app config that sends SMS through this Kannel."""
        return {
            "SMS_BACKEND": "kannel",
            "KANNEL_URL": self.sendsms_url,
            "KANNEL_USERNAME": self.username,
            "KANNEL_PASSWORD": self.password,
        }

    def _write_config(self) -> Path:
        path = self.workdir / "kannel.conf"
        path.write_text(
            f"""group = core
admin-port = {self.ports["admin"]}
admin-password = {self.password}
smsbox-port = {self.ports["smsbox"]}
box-allow-ip = "127.0.0.1"
log-level = 1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {self.ports["sendsms"]}
log-level = 1

group = sendsms-user
username = {self.username}
password = {self.password}

group = smsc
smsc = fake
smsc-id = fake
port = {self.ports["smsc"]}
connect-allow-ip = "127.0.0.1"
"""
        )
        return path

    def _spawn(self, argv: list[str], log: str, stdin=None) -> subprocess.Popen:
        with open(self.workdir / log, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=stdin)
        self.processes.append(process)
        return process

    def start(self) -> Kannel:
        config = self._write_config()
        self._spawn([BEARERBOX, "-v", "1", str(config)], "bearerbox.log")
        time.sleep(0.5)
        # fakesmsc reads MO messages from stdin; an open pipe keeps it running silently.
        self._spawn(
            [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports["smsc"])],
            "fakesmsc.log",
            stdin=subprocess.PIPE,
        )
        self._spawn([SMSBOX, "-v", "1", str(config)], "smsbox.log")
        http = urllib3.PoolManager(retries=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                http.request("GET", self.sendsms_url, timeout=1)
                return self
            except urllib3.exceptions.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("Kannel's sendsms interface did not come up")

    def received(self) -> list[tuple[str, str, str]]:
        """(from, to, text) of every message fakesmsc was handed."""
        messages = []
        for line in self.fake_log.read_text(errors="replace").splitlines():
            match = GOT.search(line)
            if match:
                sender, to, coding, data = match.groups()
                messages.append((sender, to, _decode(coding, data)))
        return messages

    def wait_for_sms(self, to: str, timeout: float = 10.0) -> str:
        """The text of the first SMS to `to`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _sender, recipient, text in self.received():
                if recipient == to:
                    return text
            time.sleep(0.1)
        raise AssertionError(f"no SMS to {to} within {timeout} s")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.stdin:
                process.stdin.close()
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def kannel(tmp_path):
    if not all(Path(binary).exists() for binary in (BEARERBOX, SMSBOX, FAKESMSC)):
        if os.environ.get("VICHE_KANNEL_TESTS") == "1":
            pytest.fail("VICHE_KANNEL_TESTS=1 but Kannel (kannel, kannel-extras) is missing")
        pytest.skip("Kannel is not installed: apt-get install kannel kannel-extras")
    server = Kannel(tmp_path).start()
    yield server
    server.stop()
