"""Auth's messages: an outbox written in the same transaction as the change, a worker
that delivers with retries, email and SMS providers, and a dev outbox page.

Templates live in services/auth/templates/messages/: `<name>.subject.txt`, `<name>.txt`
and optionally `<name>.html` for email, `<name>.sms.txt` for SMS. They are Jinja with
gettext and render in the recipient's language when the message is queued.
"""

from .outbox import enqueue_email, enqueue_sms

__all__ = ["enqueue_email", "enqueue_sms"]
