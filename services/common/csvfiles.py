"""CSV downloads that a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response, stream_with_context

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 1000
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
    """A CSV attachment; every cell passes through `csv_cell`, and text is quoted. Its
    header row is in the reader's language, which a cache must tell apart (Vary). The
    rows are written as they come, a thousand at a time, so that a petition's million
    signers never sit in memory at once: `rows` may be a generator that queries as it
    goes (it runs after the view has returned, in the request's context, with a
    database session of its own)."""

    def chunks():
        out = io.StringIO()
        # Every text cell in quotes: a spreadsheet set to split on ";" (as Ukrainian,
        # Russian, Turkish and Hungarian Excel does) keeps a quoted cell whole, so a name
        # like "Olena;=HYPERLINK(…)" cannot start a formula cell after its ";".
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
        for number, row in enumerate(rows, 1):
            writer.writerow([csv_cell(cell) for cell in row])
            if number % ROWS_PER_CHUNK == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Response(
        stream_with_context(chunks()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Vary": "Accept-Language, Cookie",
        },
    )
