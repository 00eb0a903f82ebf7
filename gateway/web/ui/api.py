"""Calling the public APIs for a page, as the visitor."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import request

from services.common.client import (
    ServiceStream,
    ServiceUnavailable,
    call_service,
    stream_service,
)
from services.common.i18n import request_locale

from .session import clear_session, session, update_session


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def needs_verification(self) -> bool:
        """Refused until the visitor confirms the email address or verifies the phone."""
        return self.status == 403 and _problem_type(self).endswith(":verification-needed")

    def errors(self) -> dict[str, list[str]]:
        """Field errors of a problem+json answer, and its detail under "form"."""
        if self.ok or not isinstance(self.body, dict):
            return {}
        errors = dict(self.body.get("errors") or {})
        if not errors:
            errors["form"] = [self.body.get("detail") or self.body.get("title") or ""]
        return errors


class SignInNeeded(Exception):
    """The visitor's session has ended and what they asked for needs one."""


def api(
    service: str,
    method: str,
    path: str,
    json: Any = None,
    *,
    query: dict | None = None,
    signed_in: bool = True,
):
    """The API's answer, with the visitor's token; an expired token is renewed once. Once
    the session has ended, a read is made as anyone; what needs a session raises
    SignInNeeded. A refusal for want of a verification is tried once more with fresh
    tokens: the visitor may have confirmed since the token was made (in another tab).
    `query` values that are empty are left out."""
    given = {key: value for key, value in (query or {}).items() if value}
    if given:
        path = f"{path}?{urlencode(given)}"
    signed_in = signed_in and bool(session().get("access"))
    answer = _call(service, method, path, json, signed_in)
    if not signed_in:
        return answer
    if _token_refused(answer):
        if renew_tokens():
            return _call(service, method, path, json, True)
        ended = not session().get("refresh")  # else auth did not answer: it may live on
        if ended:
            clear_session()
        if method != "GET":
            if ended:
                raise SignInNeeded
            return answer
        answer = _call(service, method, path, json, False)  # what anyone may read
        if answer.status == 401 and ended:
            raise SignInNeeded
    elif answer.needs_verification and renew_tokens():
        answer = _call(service, method, path, json, True)
    return answer


def _problem_type(answer: Answer) -> str:
    return answer.body.get("type", "") if isinstance(answer.body, dict) else ""


def _token_refused(answer: Answer) -> bool:
    """A 401 about the access token (expired, say), not about a password typed wrong."""
    return answer.status == 401 and _problem_type(answer).endswith(
        (":invalid-token", ":unauthorized")
    )


def download(service: str, path: str) -> ServiceStream | Answer:
    """A file from the API (a CSV), with the visitor's token, to hand on as it arrives:
    never read whole. An expired token is renewed once; a refusal is an Answer, to show."""
    answer = _download(service, path)
    if isinstance(answer, Answer) and _token_refused(answer):
        if renew_tokens():
            return _download(service, path)
        if not session().get("refresh"):
            raise SignInNeeded  # the session has ended: sign in, then back here
    return answer


def _download(service: str, path: str) -> ServiceStream | Answer:
    try:
        stream = stream_service(service, path, headers=_headers(True), client=request.remote_addr)
    except ServiceUnavailable as problem:
        return Answer(503, {"detail": problem.detail, "title": problem.title})
    return stream if stream.ok else Answer(stream.status, _parsed(stream.read()))


def _headers(signed_in: bool) -> dict[str, str]:
    headers = {"Accept-Language": request_locale(), "Accept": "application/json"}
    token = session().get("access") if signed_in else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _parsed(body: bytes) -> Any:
    try:
        return jsonlib.loads(body) if body else None
    except ValueError:
        return None


def _call(service: str, method: str, path: str, json: Any, signed_in: bool) -> Answer:
    try:
        response = call_service(
            service,
            method,
            path,
            json=json,
            headers=_headers(signed_in),
            client=request.remote_addr,
        )
    except ServiceUnavailable as problem:
        return Answer(503, {"detail": problem.detail, "title": problem.title})
    return Answer(response.status, _parsed(response.body))


def renew_tokens() -> bool:
    """A fresh token pair now (after a verification, the claims have changed). When
    auth refuses the refresh token (expired, withdrawn), the session ends here."""
    if not session().get("refresh"):
        return False
    answer = _call("auth", "POST", "/token/refresh", {"refresh_token": session()["refresh"]}, False)
    if not answer.ok:
        if answer.status == 401:  # expired or withdrawn; not when auth is unavailable
            clear_session()
        return False
    from .pages import token_roles

    update_session(
        access=answer.body["access_token"],
        refresh=answer.body["refresh_token"],
        roles=token_roles(answer.body["access_token"]),
    )
    return True
