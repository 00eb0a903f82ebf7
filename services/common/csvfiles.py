"""CSV downloads that a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# How a CSV endpoint's answer appears in the OpenAPI document (`blp.doc(**CSV_DOC)`).
CSV_DOC = {
    "responses": {
        "200": {
            "description": "A CSV attachment",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


def csv_cell(value: object) -> object:
    """Text a spreadsheet shows as text and never runs as a formula ('=cmd|…' → "'=cmd|…")."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_download(rows: Iterable[Iterable[object]], filename: str) -> Response:
    """A CSV attachment; every cell passes through `csv_cell`. Its header row is in the
    reader's language, which a cache must tell apart (Vary)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Vary": "Accept-Language, Cookie",
        },
    )
