"""Residents' accounts. `api.py` holds the HTTP handlers; the domain, free of HTTP, is
one module per thing people do. Each domain function takes plain values and a session,
commits what it changed (with the outbox message it causes, in the same transaction) and
raises a Problem when it cannot; nothing tells an outsider whether an address has an
account.

- `registration.py`: opening an account, confirming its address with the emailed link
- `sessions.py`: signing in, token pairs and their claims, refresh, signing out
- `recovery.py`: the confirmation link again, a reset link, a new password with it
- `phone.py`: verifying the phone with an SMS code
- `profile.py`: the signed-in person's address, number and password; export, deletion
- `links.py`: the signed links in emails: made, read, and what each would do now
- `passwords.py`: hashing, the rules, and the problems a wrong or weak password raises
- `users.py`: the account's row, found by a token's subject or an address, and locked
- `errors.py` (the Problem classes), `settings.py` (what the domain needs of config),
  `throttle.py` (limits the handlers count), `models.py`, `schemas.py`
"""
