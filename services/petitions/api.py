"""Petitions over HTTP: thin handlers over lifecycle, signing and counts."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.common.blueprint import Blueprint
from services.common.caching import cached_public_read
from services.common.councils import ensure_council
from services.common.csvfiles import CSV_DOC, ROWS_PER_CHUNK, csv_download
from services.common.fields import CalendarDate, CheckOnlyQuery, Length, Moment, OneLine
from services.common.tokens import current_principal, token_required

from . import browse, invalidation, lifecycle, signing
from .counts import in_count, signature_count, signature_counts
from .errors import NotAllowed
from .models import DECISIONS, Petition, Response, Signature, Transition, db, in_signing_order
from .policy import policy_for, update_policy

petitions_blp = Blueprint("petitions", __name__, description="Petitions and signatures")

TITLE = Length(min=5, max=200)
TEXT = Length(min=20, max=10000)


class NewPetitionSchema(Schema):
    council = fields.String(required=True, validate=Length(min=1, max=64))
    title = OneLine(required=True, validate=TITLE)
    text = fields.String(required=True, validate=TEXT)


class EditPetitionSchema(Schema):
    title = OneLine(validate=TITLE)
    text = fields.String(validate=TEXT)


WITHHELD = "null for a sponsor link's holder once the council took the petition down"


class PetitionSchema(Schema):
    id = fields.Integer()
    council = fields.String()
    title = fields.String(allow_none=True, metadata={"description": WITHHELD})
    text = fields.String(allow_none=True, metadata={"description": WITHHELD})
    author_name = fields.String()
    state = fields.String()
    hidden = fields.Boolean()
    signatures = fields.Integer()
    threshold = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    opened_at = fields.DateTime(allow_none=True)
    deadline_at = fields.DateTime(allow_none=True)
    succeeded_at = fields.DateTime(allow_none=True)
    moderation_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "moderators decide by then (working days)"}
    )
    response_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "the council answers by then, once successful"}
    )
    rejected_at = fields.DateTime(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    rejection_explanation = fields.String(allow_none=True)
    response = fields.Dict(allow_none=True)
    overdue = fields.Boolean()
    yours = fields.Boolean(metadata={"description": "the caller filed it"})
    you_sponsored = fields.Boolean(
        metadata={
            "description": "the caller backed it before moderation (so may not approve or "
            "reject it)"
        }
    )


class PetitionListSchema(Schema):
    petitions = fields.List(fields.Nested(PetitionSchema))
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as `cursor` for the next page"}
    )


class PageQuerySchema(Schema):
    cursor = fields.String(
        validate=Length(max=200),
        metadata={"description": "the next_cursor of the previous page"},
    )


class MineQuerySchema(PageQuerySchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ListQuerySchema(PageQuerySchema):
    council = fields.String(validate=Length(max=64))
    state = fields.String(validate=validate.OneOf(browse.LISTED_STATES))
    q = fields.String(
        validate=Length(max=100),
        metadata={
            "description": "words the title or the text must hold, every one, in any of "
            "their forms (ліхтарів finds Ліхтарі)"
        },
    )
    sort = fields.String(load_default="newest", validate=validate.OneOf(browse.SORTS))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class SimilarQuerySchema(Schema):
    council = fields.String(required=True, validate=Length(min=1, max=64))
    title = fields.String(required=True, validate=Length(min=1, max=200))


class RejectSchema(Schema):
    reason = fields.String(required=True)
    explanation = fields.String(required=True, validate=Length(min=5, max=5000))


class TakeDownSchema(Schema):
    reason = fields.String(required=True, validate=Length(min=5, max=2000))


class ResponseSchema(Schema):
    text = fields.String(required=True, validate=Length(min=5, max=20000))
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))


class SignersSchema(Schema):
    signers = fields.List(
        fields.String(), required=True, metadata={"description": "names, in the order they signed"}
    )
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as `cursor` for the next page"}
    )


class SignSchema(Schema):
    notify = fields.Boolean(load_default=False)


class SponsorSchema(Schema):
    token = fields.String(required=True, validate=Length(min=1, max=64))


class SponsorshipQuerySchema(Schema):
    token = fields.String(validate=Length(max=64))


class SponsorshipSchema(Schema):
    petition = fields.Nested(PetitionSchema)
    sponsors = fields.Integer()
    needed = fields.Integer()
    link = fields.String(
        allow_none=True, metadata={"description": "the link to share (for the author only)"}
    )


class InvalidateSchema(Schema):
    reason = fields.String(required=True, validate=Length(min=5, max=2000))
    signed_from = Moment()
    signed_until = Moment()
    user_id = fields.String(validate=Length(min=1, max=32))


class InvalidationSchema(Schema):
    id = fields.Integer()
    reason = fields.String()
    criteria = fields.Dict()
    signatures = fields.Integer(metadata={"description": "how many it took out"})
    created_at = fields.DateTime()
    reverted_at = fields.DateTime(allow_none=True)


class InvalidationListSchema(Schema):
    invalidations = fields.List(fields.Nested(InvalidationSchema))


class ReceiptSchema(Schema):
    receipt = fields.String(required=True)
    petition_id = fields.Integer(required=True)


class OwnSignatureSchema(Schema):
    receipt = fields.String(required=True)
    petition_id = fields.Integer(required=True)
    signed_at = fields.DateTime(required=True)
    counted = fields.Boolean(
        required=True, metadata={"description": "false once moderators set it aside"}
    )
    in_count = fields.Boolean(
        required=True,
        metadata={
            "description": "whether the petition's count includes it yet (counts are folded"
            " in about a second after signing)"
        },
    )


class TimelineSchema(Schema):
    timeline = fields.List(fields.Dict())


class PolicySchema(Schema):
    threshold = fields.Integer(validate=validate.Range(min=1, max=10_000_000))
    collection_days = fields.Integer(validate=validate.Range(min=1, max=365))
    signer_verification = fields.String(validate=validate.OneOf(["email", "email+phone"]))
    author_verification = fields.String(validate=validate.OneOf(["email", "email+phone"]))
    moderation_days = fields.Integer(validate=validate.Range(min=1, max=60))
    response_days = fields.Integer(validate=validate.Range(min=1, max=120))
    non_working_days = fields.List(
        CalendarDate(),
        validate=Length(max=200),
        metadata={
            "description": "weekdays that are not working days (public holidays): the"
            " moderation and response periods skip them, counted on the council's calendar"
        },
    )
    signer_names_public = fields.Boolean()
    sponsors_needed = fields.Integer(validate=validate.Range(min=0, max=20))
    rejected_public = fields.Boolean()
    allow_withdrawal = fields.Boolean()
    on_failure = fields.String(validate=validate.OneOf(["closed", "appeal"]))
    rejection_reasons = fields.List(
        OneLine(validate=Length(min=1, max=32)),
        validate=Length(min=1, max=30),
    )


def present(petition: Petition, signatures: int | None = None) -> dict:
    """One petition as the API shows it (to the caller), with its count (read here unless
    given) and the council's response."""
    if signatures is None:
        signatures = signature_count(db.session, petition.id)
    caller, sponsored = _ties([petition])
    return _presented(
        petition, signatures, db.session.get(Response, petition.id), caller, sponsored
    )


def _ties(petitions: list[Petition]) -> tuple[str | None, set[int]]:
    """Who calls (an account id, None when signed out), and which of `petitions` they
    backed as a sponsor."""
    caller = current_principal(required=False)
    if caller is None:
        return None, set()
    collected = [petition.id for petition in petitions if petition.sponsor_token]
    return caller.user_id, lifecycle.sponsored_by(db.session, caller.user_id, collected)


def present_page(petitions: list[Petition], counts: dict[int, int] | None = None) -> list[dict]:
    """A list of petitions as the API shows them: their counts (read here unless given)
    and responses read with one query each, not two per petition."""
    if not petitions:
        return []
    ids = [petition.id for petition in petitions]
    if counts is None:
        counts = signature_counts(db.session, ids)
    responses = {
        response.petition_id: response
        for response in db.session.scalars(select(Response).where(Response.petition_id.in_(ids)))
    }
    caller, sponsored = _ties(petitions)
    return [
        _presented(petition, counts[petition.id], responses.get(petition.id), caller, sponsored)
        for petition in petitions
    ]


def _presented(
    petition: Petition,
    signatures: int,
    response: Response | None,
    caller: str | None,
    sponsored: set[int],
) -> dict:
    return {
        **{
            key: getattr(petition, key)
            for key in (
                "id",
                "council",
                "title",
                "text",
                "author_name",
                "state",
                "hidden",
                "threshold",
                "rejection_reason",
                "rejection_explanation",
                "rejected_at",
                "created_at",
                "opened_at",
                "deadline_at",
                "succeeded_at",
                "moderation_due_at",
                "response_due_at",
            )
        },
        "signatures": signatures,
        "response": {
            "text": response.text,
            "decision": response.decision,
            "published_at": response.published_at.isoformat(),
        }
        if response
        else None,
        "overdue": lifecycle.overdue(petition),
        "yours": caller is not None and caller == petition.author_id,
        "you_sponsored": petition.id in sponsored,
    }


@petitions_blp.route("/petitions", methods=["POST"])
@petitions_blp.arguments(NewPetitionSchema)
@petitions_blp.response(201, PetitionSchema)
@token_required
def file_petition(data):
    """File a draft petition to a council."""
    ensure_council(data["council"])
    return present(lifecycle.file_petition(db.session, current_principal(), **data))


@petitions_blp.route("/petitions/mine")
@petitions_blp.arguments(MineQuerySchema, location="query")
@petitions_blp.response(200, PetitionListSchema)
@token_required
def my_petitions(query):
    """The caller's own petitions in every state, drafts and taken-down ones included,
    newest first; pages by `cursor`. Private: never cached."""
    page, next_cursor = browse.mine(db.session, current_principal().user_id, **query)
    listed = {"petitions": present_page(page), "next_cursor": next_cursor}
    return listed, {"Cache-Control": "private, no-store"}


@petitions_blp.route("/petitions/<int:petition_id>", methods=["DELETE"])
@petitions_blp.response(204)
@token_required
def delete_petition(petition_id: int):
    """Delete a draft (its author); a submitted petition stays (409)."""
    lifecycle.delete_draft(db.session, current_principal(), petition_id)


@petitions_blp.route("/petitions/<int:petition_id>", methods=["PATCH"])
@petitions_blp.arguments(EditPetitionSchema)
@petitions_blp.response(200, PetitionSchema)
@token_required
def edit_petition(data, petition_id: int):
    """Edit a draft (its author)."""
    return present(lifecycle.edit_draft(db.session, current_principal(), petition_id, data))


@petitions_blp.route("/petitions/<int:petition_id>/submit", methods=["POST"])
@petitions_blp.response(200, PetitionSchema)
@token_required
def submit(petition_id: int):
    """Send a draft to moderation (its author)."""
    return present(lifecycle.submit(db.session, current_principal(), petition_id))


@petitions_blp.route("/petitions/<int:petition_id>/approve", methods=["POST"])
@petitions_blp.response(200, PetitionSchema)
@token_required
def approve(petition_id: int):
    """Publish a petition for signatures (the council's moderators)."""
    return present(lifecycle.approve(db.session, current_principal(), petition_id))


@petitions_blp.route("/petitions/<int:petition_id>/reject", methods=["POST"])
@petitions_blp.arguments(RejectSchema)
@petitions_blp.response(200, PetitionSchema)
@token_required
def reject(data, petition_id: int):
    """Reject with a reason from the council's catalogue (the council's moderators)."""
    return present(lifecycle.reject(db.session, current_principal(), petition_id, **data))


@petitions_blp.route("/petitions/<int:petition_id>/take-down", methods=["POST"])
@petitions_blp.arguments(TakeDownSchema)
@petitions_blp.response(200, PetitionSchema)
@token_required
def take_down(data, petition_id: int):
    """Hide a published petition, saying why (the council's moderators)."""
    return present(
        lifecycle.take_down(db.session, current_principal(), petition_id, data["reason"])
    )


@petitions_blp.route("/petitions/<int:petition_id>/response", methods=["POST"])
@petitions_blp.arguments(ResponseSchema)
@petitions_blp.response(200, PetitionSchema)
@token_required
def respond(data, petition_id: int):
    """Publish the council's official answer (the council's moderators)."""
    lifecycle.respond(db.session, current_principal(), petition_id, **data)
    return present(lifecycle.get_petition(db.session, petition_id, current_principal()))


@petitions_blp.route("/petitions/<int:petition_id>/signatures", methods=["POST"])
@petitions_blp.arguments(SignSchema)
@petitions_blp.response(201, ReceiptSchema)
@token_required
def sign(data, petition_id: int):
    """Sign an open petition; the answer holds a receipt id."""
    receipt = signing.sign(db.session, current_principal(), petition_id, notify=data["notify"])
    return {"receipt": receipt, "petition_id": petition_id}


@petitions_blp.route("/petitions/<int:petition_id>/sponsorship")
@petitions_blp.arguments(SponsorshipQuerySchema, location="query")
@petitions_blp.response(200, SponsorshipSchema)
def sponsorship(query, petition_id: int):
    """A petition collecting sponsors: for whoever holds its link, its author (who also
    gets the link to share) and its moderators. Once it no longer collects, the link
    still says what became of it; to a link's holder who may not otherwise see it, not
    why it was rejected, and nothing of a taken-down petition's title, text or the
    council's answer."""
    viewer = current_principal(required=False)
    petition, count = lifecycle.sponsorship(db.session, petition_id, viewer, query.get("token"))
    is_author = viewer is not None and viewer.user_id == petition.author_id
    link = (
        f"{current_app.config['PUBLIC_URL']}/petitions/{petition.id}/sponsor"
        f"?token={petition.sponsor_token}"
    )
    shown = present(petition)
    if not lifecycle.may_see(db.session, petition, viewer):
        withheld = ["rejection_reason", "rejection_explanation"]
        if petition.hidden:  # none of its words: the council's answer quotes them
            withheld += ["title", "text", "response"]
        shown.update(dict.fromkeys(withheld))
    return {
        "petition": shown,
        "sponsors": count,
        "needed": petition.sponsors_needed,
        "link": link if is_author else None,
    }


@petitions_blp.route("/petitions/<int:petition_id>/sponsors", methods=["POST"])
@petitions_blp.arguments(SponsorSchema)
@petitions_blp.response(201, SponsorshipSchema)
@token_required
def sponsor(data, petition_id: int):
    """Back a petition before moderation, through the link its author shared."""
    count = lifecycle.sponsor(db.session, current_principal(), petition_id, data["token"])
    petition = db.session.get(Petition, petition_id)
    return {"petition": present(petition), "sponsors": count, "needed": petition.sponsors_needed}


@petitions_blp.route("/petitions/<int:petition_id>/invalidations", methods=["POST"])
@petitions_blp.arguments(InvalidateSchema)
@petitions_blp.response(201, InvalidationSchema)
@token_required
def invalidate(data, petition_id: int):
    """Take signatures out of the count by time window and/or account (moderators)."""
    reason = data.pop("reason")
    criteria = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in data.items()}
    return invalidation.invalidate(
        db.session, current_principal(), petition_id, reason=reason, criteria=criteria
    )


@petitions_blp.route("/petitions/<int:petition_id>/invalidations")
@petitions_blp.response(200, InvalidationListSchema)
@token_required
def list_invalidations(petition_id: int):
    """The petition's invalidations, reverted ones included (moderators)."""
    return {
        "invalidations": invalidation.invalidations(db.session, current_principal(), petition_id)
    }


@petitions_blp.route(
    "/petitions/<int:petition_id>/invalidations/<int:invalidation_id>/revert", methods=["POST"]
)
@petitions_blp.response(200, InvalidationSchema)
@token_required
def revert_invalidation(petition_id: int, invalidation_id: int):
    """Count an invalidation's signatures again (moderators)."""
    return invalidation.revert(db.session, current_principal(), petition_id, invalidation_id)


@petitions_blp.route("/petitions/<int:petition_id>/signatures/mine")
@petitions_blp.response(200, OwnSignatureSchema)
@token_required
def own_signature(petition_id: int):
    """One's own signature on a petition: whether, when, and its receipt (404 if none)."""
    signature = signing.own_signature(db.session, current_principal(), petition_id)
    return {
        "receipt": signature.receipt,
        "petition_id": petition_id,
        "signed_at": signature.created_at,
        "counted": signature.invalidation_id is None,
        "in_count": in_count(db.session, signature),
    }


@petitions_blp.route("/petitions/<int:petition_id>/signatures/mine", methods=["DELETE"])
@petitions_blp.response(204)
@token_required
def withdraw(petition_id: int):
    """Withdraw one's signature while the petition is open, where the council allows it."""
    signing.withdraw(db.session, current_principal(), petition_id)


@petitions_blp.route("/petitions/<int:petition_id>/signers.csv")
@petitions_blp.doc(**CSV_DOC)
@token_required
def signers_csv(petition_id: int):
    """Every signer's name, time, receipt and account number, for the council's
    moderators (CSV): the number is what setting one account's signature aside asks."""
    petition = lifecycle.get_petition(db.session, petition_id, current_principal())
    if not lifecycle.is_moderator(current_principal(), petition.council):
        raise NotAllowed()

    def rows():
        yield [
            gettext("Name"),
            gettext("Signed at (UTC)"),
            gettext("Receipt"),
            gettext("Set aside by invalidation"),
            gettext("Account number"),
        ]
        # Read while the file is written (a server-side cursor on PostgreSQL).
        signatures = db.session.execute(
            in_signing_order(
                db.session,
                select(
                    Signature.signer_name,
                    Signature.created_at,
                    Signature.receipt,
                    Signature.invalidation_id,
                    Signature.user_id,
                ),
                petition_id,
            ).execution_options(yield_per=ROWS_PER_CHUNK)
        )
        for name, at, receipt, set_aside_by, account in signatures:
            yield [name, at.isoformat(), receipt, set_aside_by or "", account]

    return csv_download(rows(), f"petition-{petition_id}-signers.csv")


@petitions_blp.route("/petitions/<int:petition_id>")
@cached_public_read(max_age=5, stale_while_revalidate=30, memo_seconds=1.0)
@petitions_blp.response(200, PetitionSchema)
def get_petition(petition_id: int):
    """A petition with its count; drafts and hidden ones only for their author and moderators."""
    viewer = current_principal(required=False)
    return present(lifecycle.get_petition(db.session, petition_id, viewer))


@petitions_blp.route("/petitions")
@cached_public_read(max_age=5, stale_while_revalidate=30, memo_seconds=1.0)
@petitions_blp.arguments(ListQuerySchema, location="query")
@petitions_blp.response(200, PetitionListSchema)
def list_petitions(query):
    """Published petitions with filters; sorted newest, most signed or closing soon;
    pages by `cursor`."""
    page, next_cursor = browse.browse(db.session, **query)
    return {
        "petitions": present_page(
            [petition for petition, _ in page], {petition.id: count for petition, count in page}
        ),
        "next_cursor": next_cursor,
    }


@petitions_blp.route("/petitions/similar")
@cached_public_read(max_age=30, stale_while_revalidate=120)
@petitions_blp.arguments(SimilarQuerySchema, location="query")
@petitions_blp.response(200, PetitionListSchema)
def similar_petitions(query):
    """Published petitions whose titles resemble a new one's (asked before filing)."""
    found = browse.similar(db.session, query["council"], query["title"])
    return {"petitions": present_page(found), "next_cursor": None}


@petitions_blp.route("/councils/<council:council>/rejected")
@cached_public_read(max_age=60, stale_while_revalidate=300)
@petitions_blp.arguments(PageQuerySchema, location="query")
@petitions_blp.response(200, PetitionListSchema)
def rejected_petitions(query, council: str):
    """The council's rejected petitions with reasons, where its policy publishes them;
    newest first, a page at a time."""
    if not policy_for(db.session, council).rejected_public:
        raise NotAllowed(gettext("This council does not publish its rejected petitions."))
    page, next_cursor = browse.rejected(db.session, council, query.get("cursor"))
    return {"petitions": present_page(page), "next_cursor": next_cursor}


@petitions_blp.route("/petitions/<int:petition_id>/timeline")
@cached_public_read(max_age=5, stale_while_revalidate=30)
@petitions_blp.response(200, TimelineSchema)
def timeline(petition_id: int):
    """Every transition: who (by role), when and why."""
    lifecycle.get_petition(db.session, petition_id, current_principal(required=False))
    rows = db.session.scalars(
        select(Transition).where(Transition.petition_id == petition_id).order_by(Transition.id)
    ).all()
    return {
        "timeline": [
            {
                "from": t.from_state,
                "to": t.to_state,
                "reason": t.reason,
                "at": t.at.isoformat(),
            }
            for t in rows
        ]
    }


@petitions_blp.route("/petitions/<int:petition_id>/signers")
@cached_public_read(max_age=30, stale_while_revalidate=120)
@petitions_blp.arguments(PageQuerySchema, location="query")
@petitions_blp.response(200, SignersSchema)
def signers(query, petition_id: int):
    """Signer names, where the council publishes them (names only, never contacts), a
    thousand at a time."""
    petition = lifecycle.get_petition(db.session, petition_id)
    if not policy_for(db.session, petition.council).signer_names_public:
        raise NotAllowed()
    names, next_cursor = browse.signer_names(db.session, petition_id, query.get("cursor"))
    return {"signers": names, "next_cursor": next_cursor}


@petitions_blp.route("/councils/<council:council>/moderation")
@petitions_blp.arguments(PageQuerySchema, location="query")
@petitions_blp.response(200, PetitionListSchema)
@token_required
def moderation_queue(query, council: str):
    """Petitions awaiting moderation, oldest first, with deadline flags; a page at a time."""
    if not lifecycle.is_moderator(current_principal(), council):
        raise NotAllowed()
    page, next_cursor = browse.moderation_queue(db.session, council, query.get("cursor"))
    return {"petitions": present_page(page), "next_cursor": next_cursor}


@petitions_blp.route("/councils/<council:council>/policy")
@petitions_blp.response(200, PolicySchema)
def get_policy(council: str):
    """The council's petition rules."""
    ensure_council(council, in_path=True)
    return policy_for(db.session, council)


@petitions_blp.route("/councils/<council:council>/policy", methods=["PUT"])
@petitions_blp.arguments(PolicySchema)
@petitions_blp.arguments(CheckOnlyQuery, location="query")
@petitions_blp.response(200, PolicySchema)
@token_required
def put_policy(data, query, council: str):
    """Change the council's petition rules (its admins)."""
    ensure_council(council, in_path=True)
    return update_policy(db.session, current_principal(), council, data, query["check_only"])
