"""Where messages leave: email and SMS providers behind one small interface each.

A provider's `send` either returns or raises. `RetryableDeliveryError` means "try again
later" (the server is down, busy, or said 4xx); `PermanentDeliveryError` means "this
message will never go" (the address or number was refused). The worker treats the two
differently; every other exception is treated as retryable, since a bug fixed tomorrow
should not have cost a resident their confirmation email.
"""

from __future__ import annotations

import contextlib
import email.policy
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Protocol

import urllib3

log = logging.getLogger("viche.messages")

# smtplib sends bytes as they are: the lines must already end in CRLF.
COMPAT32_ON_THE_WIRE = email.policy.compat32.clone(linesep="\r\n")


class RetryableDeliveryError(Exception):
    """The provider could not take the message now; it may later."""


class PermanentDeliveryError(Exception):
    """The provider refused the message for good."""


class Sendable(Protocol):
    recipient: str
    subject: str | None
    text_body: str
    html_body: str | None


class EmailProvider(Protocol):
    def send(self, message: Sendable) -> None: ...

    def close(self) -> None: ...


class SmsProvider(Protocol):
    def send(self, message: Sendable) -> None: ...

    def close(self) -> None: ...


class HoldsNoConnection:
    def close(self) -> None:
        """Nothing is kept open between messages."""


class ConsoleEmail(HoldsNoConnection):
    """Development: the message goes to the log (and the dev outbox page shows it)."""

    def send(self, message: Sendable) -> None:
        log.info("email to %s: %s\n%s", message.recipient, message.subject, message.text_body)


class ConsoleSms(HoldsNoConnection):
    def send(self, message: Sendable) -> None:
        log.info("sms to %s: %s", message.recipient, message.text_body)


class SmtpEmail:
    """Email over SMTP: plain, STARTTLS or implicit TLS, with optional login."""

    def __init__(self, config) -> None:
        self.host = config["SMTP_HOST"]
        self.port = config["SMTP_PORT"]
        self.username = config["SMTP_USERNAME"]
        self.password = config["SMTP_PASSWORD"]
        self.tls = config["SMTP_TLS"]
        self.timeout = config["SMTP_TIMEOUT"]
        self.sender = config["MAIL_FROM"]
        name, self.envelope_sender = parseaddr(self.sender)
        self.sender_header = formataddr((name, self.envelope_sender), charset="utf-8")
        self.sender_domain = self.envelope_sender.rpartition("@")[2] or None
        self._client: smtplib.SMTP | None = None

    def build(self, message: Sendable) -> bytes:
        """The message as it goes on the wire, for a plain ASCII address (nearly every
        one): built with the compat32 classes, five times cheaper than EmailMessage."""
        mail = MIMEText(message.text_body, "plain", "utf-8")
        if message.html_body:
            alternatives = MIMEMultipart("alternative")
            alternatives.attach(mail)
            alternatives.attach(MIMEText(message.html_body, "html", "utf-8"))
            mail = alternatives
        mail["From"] = self.sender_header
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or ""  # beyond ASCII: an RFC 2047 encoded word
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender_domain)
        return mail.as_bytes(policy=COMPAT32_ON_THE_WIRE)

    def build_international(self, message: Sendable) -> EmailMessage:
        """For an address beyond ASCII: the modern policy writes it in UTF-8 and has the
        server agree to SMTPUTF8."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender_domain)
        mail.set_content(message.text_body)
        if message.html_body:
            mail.add_alternative(message.html_body, subtype="html")
        return mail

    def _transmit(self, message: Sendable) -> None:
        if message.recipient.isascii():
            self._client.sendmail(self.envelope_sender, [message.recipient], self.build(message))
        else:
            self._client.send_message(self.build_international(message))

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if self.username:
            client.login(self.username, self.password or "")
        return client

    def send(self, message: Sendable) -> None:
        """Send over the connection this provider keeps open from one message (and one
        delivery pass) to the next."""
        try:
            if self._client is None:
                self._client = self._connect()
                self._transmit(message)
            else:
                try:
                    self._transmit(message)
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    # The relay closed the kept connection meanwhile: once more, afresh.
                    self._drop()
                    self._client = self._connect()
                    self._transmit(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {codes}") from exc
            raise RetryableDeliveryError(f"recipient deferred: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()  # the session's state is unknown after an error: start afresh
            if 500 <= exc.smtp_code < 600 and exc.smtp_code != 530:
                raise PermanentDeliveryError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise RetryableDeliveryError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise RetryableDeliveryError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                client.quit()

    def _drop(self) -> None:
        """Forget a connection the other side closed, without a word to it."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


class KannelSms:
    """SMS through Kannel's HTTP `sendsms` interface (smsbox), over kept-alive
    connections."""

    def __init__(self, config) -> None:
        self.url = config["KANNEL_URL"]
        self.username = config["KANNEL_USERNAME"]
        self.password = config["KANNEL_PASSWORD"]
        self.sender = config["SMS_FROM"]
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(5, 10))

    def send(self, message: Sendable) -> None:
        fields = {
            "username": self.username,
            "password": self.password,
            "from": self.sender,
            "to": message.recipient,
            # UCS-2 (coding 2) so Cyrillic arrives intact; Kannel converts from UTF-8.
            "text": message.text_body,
            "charset": "UTF-8",
            "coding": "2",
        }
        try:
            response = self.http.request("GET", self.url, fields=fields)
        except urllib3.exceptions.HTTPError as exc:
            raise RetryableDeliveryError(f"kannel unreachable: {exc}") from exc
        body = response.data.decode("utf-8", "replace")[:200]
        if response.status in (200, 202):
            return
        if response.status in (400, 403):  # bad number or refused by Kannel's rules
            raise PermanentDeliveryError(f"kannel {response.status}: {body}")
        raise RetryableDeliveryError(f"kannel {response.status}: {body}")

    def close(self) -> None:
        self.http.clear()


def email_provider(config) -> EmailProvider:
    return SmtpEmail(config) if config["EMAIL_BACKEND"] == "smtp" else ConsoleEmail()


def sms_provider(config) -> SmsProvider:
    return KannelSms(config) if config["SMS_BACKEND"] == "kannel" else ConsoleSms()
