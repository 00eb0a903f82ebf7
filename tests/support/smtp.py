"""A real SMTP server for tests: aiosmtpd on a free port, keeping what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class Inbox:
    """aiosmtpd handler: parses and keeps every message; can be told to refuse."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_with: str | None = None  # e.g. "550 5.1.1 no such user"
        self.sessions = 0  # SMTP conversations opened (EHLO/HELO)
        self.quits = 0  # and closed by the client (QUIT)
        self.answer_after = 0.0  # seconds a message waits for its answer, as over a network
        self.in_flight = self.most_in_flight = 0  # messages waiting for their answer
        self._arrived = threading.Condition()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server, session, envelope: Envelope, address, rcpt_options):
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):
        self.in_flight += 1  # one event loop: no lock needed
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.answer_after)
        finally:
            self.in_flight -= 1
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(parsed)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, timeout: float = 10.0) -> EmailMessage:
        """The first message to `to`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self.messages:
                    if to.lower() in str(message["To"]).lower():
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email to {to} within {timeout} s")
                self._arrived.wait(remaining)


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def links_in(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+", text_of(message))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()  # known before the server listens, to test "down"
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        # aiosmtpd makes its event loop when the controller is made: only when it runs.
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    @property
    def config(self) -> dict:
        """Auth app config that sends through this server."""
        return {
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_TLS": "none",
            "SMTP_TIMEOUT": 5.0,
        }


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()
