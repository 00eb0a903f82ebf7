"""`/healthz` (the process answers) and `/readyz` (and its database does)."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from marshmallow import Schema, fields
from sqlalchemy import text

from .blueprint import Blueprint
from .errors import Problem


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    service = fields.String(required=True, metadata={"example": "auth"})


def health_blueprint(db) -> Blueprint:
    blp = Blueprint("health", __name__, description="Liveness and readiness probes")

    @blp.route("/healthz")
    @blp.response(200, HealthSchema)
    def healthz():
        """The process is alive."""
        return {"status": "ok", "service": current_app.config["SERVICE_NAME"]}

    @blp.route("/readyz")
    @blp.response(200, HealthSchema)
    def readyz():
        """The service can reach its database."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:
            current_app.logger.warning("readiness check failed: %s", exc)
            raise Problem(gettext("The database is unreachable."), slug="not-ready") from exc
        finally:
            db.session.remove()
        return {"status": "ok", "service": current_app.config["SERVICE_NAME"]}

    return blp
