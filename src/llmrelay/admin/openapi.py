"""The OpenAPI 3.1 document of the admin and customer API, generated from the route table.

Schemas come from the same msgspec structs that decode the bodies and encode the answers.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from llmrelay import __version__
from llmrelay.admin.endpoint import Endpoint
from llmrelay.admin.member_auth import COOKIE as SESSION_COOKIE
from llmrelay.admin.shapes import ErrorBody, KeyCreate, KeyPatch

REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
ERRORS = {
    "400": "a bad body or query parameter; `param` names it",
    "401": "no key, an unknown key, or a disabled or expired one",
    "403": "an API key on an admin route; for a member, a missing `x-csrf-token` or a role "
    "that may not do this",
    "404": "no such key, account or member",
    "409": "the name (or a member's email) is taken, or the key is revoked",
}
TAGS = {"admin": "admin", "key": "customer", "member": "member", "key_or_member": "customer"}
SECURITY = {
    "admin": [{"bearer": []}],
    "key": [{"bearer": []}],
    "member": [{"session": []}],
    "key_or_member": [{"bearer": []}, {"session": []}],
}
"""OpenAPI's `security` lists alternatives: either one of them will do."""


def _operation_id(endpoint: Endpoint) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", endpoint.path.lower()).strip("_")
    return f"{endpoint.method.lower()}_{words}"


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    queries = [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": p.schema,
        }
        for p in endpoint.query
    ]
    return path + queries


def _errors(endpoint: Endpoint) -> list[str]:
    codes = ["401"]
    if endpoint.caller != "key":
        codes.append("403")
    if endpoint.body is not None or endpoint.query:
        codes.append("400")
    if "{id}" in endpoint.path:
        codes.append("404")
    if endpoint.body is not None or endpoint.path.endswith("/rotate"):
        codes.append("409")
    return sorted(codes)


def _responses(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    if endpoint.response is None:
        schema: dict[str, Any] = {"type": "string"}
    else:
        schema = refs[endpoint.response]
    ok = {"description": "OK", "content": {endpoint.media_type: {"schema": schema}}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    for code in _errors(endpoint):
        responses[code] = {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": refs[ErrorBody]}},
        }
    return responses


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(endpoint),
        "summary": endpoint.summary,
        "tags": [TAGS[endpoint.caller]],
        "security": SECURITY[endpoint.caller],
        "parameters": _parameters(endpoint),
        "responses": _responses(endpoint, refs),
    }
    if endpoint.body is not None:
        content = {"application/json": {"schema": refs[endpoint.body]}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _name_models(components: dict[str, Any], model_names: list[str]) -> None:
    """Key bodies may list only the models (and aliases) this relay serves: an enum says so."""
    for body in (KeyCreate, KeyPatch):
        models = components[body.__name__]["properties"]["models"]
        for schema in (models, *models.get("anyOf", ())):
            if schema.get("type") == "array" and model_names:
                schema["items"] = {**schema["items"], "enum": model_names}
            elif schema.get("type") == "array":
                schema["maxItems"] = 0  # an enum may not be empty


def openapi_document(
    endpoints: list[Endpoint], model_names: list[str] | None, extra: list[Any] = ()
) -> dict[str, Any]:
    """The document for `endpoints`; key bodies' `models` limited to `model_names` (None:
    not named, for a document anyone may read). `extra`: more structs to describe."""
    kinds = [ErrorBody, *extra]
    for endpoint in endpoints:
        for kind in (endpoint.response, endpoint.body):
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    schemas, components = msgspec.json.schema_components(kinds, ref_template=REF)
    refs = dict(zip(kinds, schemas, strict=True))
    if model_names is not None:
        _name_models(components, model_names)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llmrelay admin and customer API",
            "version": __version__,
            "description": "Admin routes take the admin key; customer routes any API key, "
            "about itself only. Errors take OpenAI's shape.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
        },
    }
