"""Fixtures for auth's tests: a real SMTP server and a real Kannel."""

from tests.support.kannel import kannel  # noqa: F401 - a fixture
from tests.support.smtp import smtp_server  # noqa: F401 - a fixture
