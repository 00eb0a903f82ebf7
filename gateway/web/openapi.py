"""One OpenAPI document for the whole suite, merged from the services' own documents.

Each service generates its document from its schemas; this module fetches them through
the service client, puts every path under the service's public prefix and namespaces
component names (`auth.Problem`), so that equal names from two services cannot collide.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from services.common.client import ServiceUnavailable, call_service
from services.common.routes import ROUTES

COMPONENT_REF = "#/components/"
CACHE_SECONDS = 60.0

_cache: dict[str, Any] = {"document": None, "at": float("-inf")}
_lock = threading.Lock()


def _rename_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                _prefixed_ref(value, service)
                if key == "$ref" and isinstance(value, str)
                else _rename_refs(value, service)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, service) for item in node]
    return node


def _prefixed_ref(ref: str, service: str) -> str:
    if not ref.startswith(COMPONENT_REF):
        return ref
    kind, _, name = ref[len(COMPONENT_REF) :].partition("/")
    return f"{COMPONENT_REF}{kind}/{service}.{name}"


def merge_documents(documents: dict[str, dict], prefixes: dict[str, str]) -> dict:
    """Merge per-service OpenAPI documents into one (pure: tested without HTTP)."""
    merged: dict = {
        "openapi": "3.1.0",
        "info": {
            "title": "Viche API",
            "version": "1",
            "description": "Petitions, community polls and accounts for local councils. "
            "Every error is RFC 9457 problem+json.",
        },
        "paths": {},
        "components": {},
        "tags": [],
    }
    for service, document in documents.items():
        prefix = prefixes[service]
        document = _rename_refs(document, service)
        for path, item in document.get("paths", {}).items():
            for operation in item.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["tags"] = [f"{service}: {t}" for t in operation.get("tags", [])] or [
                        service
                    ]
            merged["paths"][prefix + path] = item
        for kind, components in document.get("components", {}).items():
            target = merged["components"].setdefault(kind, {})
            for name, component in components.items():
                target[f"{service}.{name}"] = component
        for tag in document.get("tags", []):
            merged["tags"].append({**tag, "name": f"{service}: {tag['name']}"})
    return merged


def merged_document() -> dict:
    """The suite's document, cached for a minute; a service that is down is left out."""
    with _lock:
        if _cache["document"] is not None and time.monotonic() - _cache["at"] < CACHE_SECONDS:
            return _cache["document"]
    documents, missing = {}, []
    for route in ROUTES:
        if route.service == "web":
            continue
        try:
            response = call_service(route.service, "GET", "/openapi.json")
        except ServiceUnavailable:
            missing.append(route.service)
            continue
        if response.ok:
            documents[route.service] = response.json()
        else:
            missing.append(route.service)
    document = merge_documents(
        documents, {r.service: r.prefix for r in ROUTES if r.service != "web"}
    )
    if missing:
        document["info"]["x-unavailable-services"] = missing
        return document  # not cached: try again next time
    with _lock:
        _cache.update(document=document, at=time.monotonic())
    return document
