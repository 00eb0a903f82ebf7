"""The API blueprint every service declares its endpoints on."""

from __future__ import annotations

import flask_smorest

from .inputs import ServiceParser


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, parsing each endpoint's arguments with one schema instance.

    Handed a schema class, webargs builds a new instance for every request, and building
    one (marshmallow copies every declared field) costs more than parsing the body.
    Schemas hold no per-request state, so one instance serves every thread. Bodies go
    through the parser that refuses what no database should see (common.inputs).
    """

    ARGUMENTS_PARSER = ServiceParser()

    def arguments(self, schema, *args, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
