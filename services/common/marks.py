"""Texts alike for everyone but for a value or two of each reader's own (an email's
link, a page's proof): rendered once around marks, the values put in afterwards.

On an email vote's busiest paths rendering cost more than the statement beside it, and
all but those values are the same for everyone voting for one answer in one language.
A mark is letters and digits only, so no escaping changes it; a template that filters a
value (truncates it, say) must not be rendered around its mark.
"""

from __future__ import annotations

import secrets

from markupsafe import escape

_MARKER = f"viche{secrets.token_hex(8)}"


def mark(name: str) -> str:
    """What a template is given in place of the value `name`."""
    return f"{_MARKER}{name}{_MARKER}"


def put_in(rendered: str, values: dict[str, str], *, html: bool) -> str:
    """`rendered` with each value where its mark is: in HTML escaped as Jinja escapes
    it."""
    for name, value in values.items():
        rendered = rendered.replace(mark(name), str(escape(value)) if html else value)
    return rendered
