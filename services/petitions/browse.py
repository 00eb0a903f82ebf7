"""Finding petitions: filters, sorts with keyset pages, similar titles, rejected ones.

A page ends with an opaque cursor holding the sort key and id of its last petition;
the next page starts strictly after it, so pages never repeat or skip a petition
however many are added meanwhile, and no page costs an OFFSET scan.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from services.common.errors import ValidationFailed
from services.common.fields import is_id

from .models import CouncilPolicy, Petition, PetitionCount, Signature, in_signing_order

LISTED_STATES = ("open", "successful", "answered", "closed", "rejected")
# What anyone may see: published, not taken down, and rejected only in a council that
# publishes its rejected petitions (with no policy row, the default publishes them).
PUBLICLY_LISTED = and_(
    Petition.hidden.is_(False),
    Petition.state.in_(LISTED_STATES),
    or_(
        Petition.state != "rejected",
        Petition.council.not_in(
            select(CouncilPolicy.council).where(CouncilPolicy.rejected_public.is_(False))
        ),
    ),
)
SORTS = ("newest", "most_signed", "closing_soon")
SIMILAR_LIMIT = 5
WORD = re.compile(r"\w{4,}", re.UNICODE)
# Words are compared by their first letters: the languages we serve inflect and append
# (ліхтарі, ліхтарів; парк, парку; yol, yolların), and a duplicate worded in another case
# is still a duplicate.
STEM = 5


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != 2 or not is_id(values[1]):
            raise ValueError(cursor)
        if sort == "closing_soon":
            values[0] = datetime.fromisoformat(values[0])
        elif sort == "most_signed" and not (values[0] == 0 or is_id(values[0])):
            raise ValueError(cursor)  # a count, within the same integer as the ids
        return values
    except (ValueError, TypeError):
        raise ValidationFailed(
            errors={"cursor": [gettext("This page cursor is not valid for this sort.")]}
        ) from None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def _contains(column, part: str):
    """`column` holds `part`, written lower or capitalised: SQLite folds only ASCII case,
    and a resident types "ліхтарі" for a title that begins "Ліхтарі"."""
    return or_(*(column.ilike(_like(form), escape="\\") for form in {part, part.capitalize()}))


def _stem(word: str) -> str:
    return word.casefold()[:STEM]


def _search_terms(q: str) -> list[str]:
    """What a search asks for: each word's stem (a short word as it is), at most eight."""
    return [_stem(word) for word in re.findall(r"\w+", q)][:8]


def browse(
    session: Session,
    *,
    council: str | None = None,
    state: str | None = None,
    q: str | None = None,
    sort: str = "newest",
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[tuple[Petition, int]], str | None]:
    """A page of published petitions with their counts, and the cursor of the next."""
    signatures = func.coalesce(PetitionCount.signatures, 0)
    statement = (
        select(Petition, signatures)
        .outerjoin(PetitionCount, PetitionCount.petition_id == Petition.id)
        .where(PUBLICLY_LISTED)
    )
    if council:
        statement = statement.where(Petition.council == council)
    if state:
        statement = statement.where(Petition.state == state)
    terms = _search_terms(q or "")
    if q and q.strip() and not terms:  # punctuation alone: no petition has those words
        return [], None
    # Every word of the search, in any of its forms, in the title or the text.
    for term in terms:
        statement = statement.where(
            or_(_contains(Petition.title, term), _contains(Petition.text, term))
        )
    after = _decode(cursor, sort) if cursor else None
    if sort == "most_signed":
        order = (signatures.desc(), Petition.id.desc())
        if after:
            statement = statement.where(
                or_(signatures < after[0], and_(signatures == after[0], Petition.id < after[1]))
            )
    elif sort == "closing_soon":
        statement = statement.where(Petition.state == "open", Petition.deadline_at.is_not(None))
        order = (Petition.deadline_at.asc(), Petition.id.asc())
        if after:
            statement = statement.where(
                or_(
                    Petition.deadline_at > after[0],
                    and_(Petition.deadline_at == after[0], Petition.id > after[1]),
                )
            )
    else:
        order = (Petition.id.desc(),)
        if after:
            statement = statement.where(Petition.id < after[1])
    rows = session.execute(statement.order_by(*order).limit(limit + 1)).all()
    page = [(petition, count) for petition, count in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last, count = page[-1]
    key = {
        "newest": last.id,
        "most_signed": count,
        "closing_soon": last.deadline_at.isoformat() if last.deadline_at else None,
    }[sort]
    return page, _encode([key, last.id])


def _id_cursor(last_id: int) -> str:
    """The cursor of a page ordered by id alone."""
    return _encode([last_id, last_id])


def _after_id(cursor: str | None) -> int | None:
    return _decode(cursor, "id")[1] if cursor else None


def _petitions_by_id(
    session: Session, statement, cursor: str | None, limit: int, *, newest_first: bool = False
) -> tuple[list[Petition], str | None]:
    """A page of the petitions `statement` selects, in the order of their ids, and the
    cursor of the next."""
    after = _after_id(cursor)
    if after is not None:
        statement = statement.where(Petition.id < after if newest_first else Petition.id > after)
    order = Petition.id.desc() if newest_first else Petition.id.asc()
    rows = session.scalars(statement.order_by(order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return list(rows), None
    return list(rows[:limit]), _id_cursor(rows[limit - 1].id)


def moderation_queue(
    session: Session, council: str, cursor: str | None = None, limit: int = 50
) -> tuple[list[Petition], str | None]:
    """A page of the council's petitions awaiting moderation, oldest first (the first to
    fall due), and the cursor of the next."""
    statement = select(Petition).where(Petition.council == council, Petition.state == "moderation")
    return _petitions_by_id(session, statement, cursor, limit)


def mine(
    session: Session, author_id: str, cursor: str | None = None, limit: int = 20
) -> tuple[list[Petition], str | None]:
    """A page of the petitions `author_id` filed, in every state (drafts, taken down),
    newest first, and the cursor of the next."""
    statement = select(Petition).where(Petition.author_id == author_id)
    return _petitions_by_id(session, statement, cursor, limit, newest_first=True)


def signer_names(
    session: Session, petition_id: int, cursor: str | None = None, limit: int = 1000
) -> tuple[list[str], str | None]:
    """A page of the names of those whose signatures count, in the order they signed,
    and the cursor of the next."""
    statement = in_signing_order(
        session,
        select(Signature.id, Signature.signer_name).where(Signature.invalidation_id.is_(None)),
        petition_id,
        _after_id(cursor) or 0,
    )
    rows = session.execute(statement.limit(limit + 1)).all()
    names = [name for _, name in rows[:limit]]
    return names, _id_cursor(rows[limit - 1].id) if len(rows) > limit else None


def _same_word(stem: str, word: str) -> bool:
    """Whether `word` (casefolded) is a form of the word `stem` starts: one begins the
    other (a four-letter word is its own stem)."""
    return word.startswith(stem) or stem.startswith(word)


def similar(session: Session, council: str, title: str) -> list[Petition]:
    """Published petitions of the council whose titles share the most words with `title`
    (words of four letters or more, in any of their forms), for a resident about to file
    a duplicate."""
    longest = sorted(set(WORD.findall(title)), key=len, reverse=True)[:8]
    stems = {_stem(word) for word in longest}
    if not stems:
        return []
    # Candidates by each stem's first four letters; ranked below by whole stems.
    starts = {stem[:4] for stem in stems}
    candidates = session.scalars(
        select(Petition)
        .where(
            Petition.council == council,
            PUBLICLY_LISTED,
            or_(*(_contains(Petition.title, start) for start in starts)),
        )
        .order_by(Petition.id.desc())
        .limit(200)
    ).all()

    def shared(petition: Petition) -> int:
        words = [word.casefold() for word in WORD.findall(petition.title)]
        return sum(1 for stem in stems if any(_same_word(stem, word) for word in words))

    ranked = sorted(candidates, key=lambda p: (-shared(p), -p.id))
    return [p for p in ranked if shared(p)][:SIMILAR_LIMIT]


def rejected(
    session: Session, council: str, cursor: str | None = None, limit: int = 50
) -> tuple[list[Petition], str | None]:
    """A page of the council's rejected petitions, newest first (shown where its policy
    says), and the cursor of the next."""
    statement = select(Petition).where(
        Petition.council == council, Petition.state == "rejected", Petition.hidden.is_(False)
    )
    return _petitions_by_id(session, statement, cursor, limit, newest_first=True)
