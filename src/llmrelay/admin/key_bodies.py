"""Reading `POST /admin/keys` and `PATCH /admin/keys/{id}` bodies: 400 naming the bad field.

msgspec checks the types and bounds the structs declare; this module adds what a type cannot
say: model names the catalog knows, networks `ipaddress` accepts, metadata's encoded size.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import orjson

from llmrelay.admin.shapes import NAME_PATTERN, NETWORK_PATTERN, KeyCreate, KeyPatch
from llmrelay.protocol.errors import RelayError, invalid_request

MAX_METADATA_BYTES = 16 * 1024

T = TypeVar("T")

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_FIELD = re.compile(r"(?:unknown|required) field `(?P<field>[^`]+)`")
_CLEARED = {"models": [], "allowed_ips": [], "metadata": {}, "budget_period": "total"}
"""What null means for fields that are lists, objects or have a default."""


def _param(message: str) -> str | None:
    """The field a msgspec validation message is about, in OpenAI's `param` style."""
    at = _AT.search(message)
    path = at.group("path") if at else ""
    field = _FIELD.search(message)
    if field:
        name = field.group("field")
        return f"{path}.{name}" if path else name
    return path or None


def _explain(message: str, param: str | None) -> str:
    if "unknown field" in message:
        return f"Unknown field '{param}'."
    if "missing required field" in message:
        return f"Missing required field '{param}'."
    text = _AT.sub("", message)
    return f"Invalid '{param}': {text}." if param else f"Invalid request body: {text}."


def decode_body(raw: bytes, kind: type[T]) -> T:
    """The body as `kind`, or 400 with `param` naming the offending field."""
    if not raw.strip():
        raise invalid_request("The request body must be a JSON object.", code="invalid_json")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        param = _param(message)
        raise invalid_request(_explain(message, param), param=param, code="invalid_value") from None
    except msgspec.DecodeError as exc:
        raise invalid_request(
            f"The request body is not valid JSON: {exc}.", code="invalid_json"
        ) from None
    except RecursionError:
        raise invalid_request(
            "The request body is nested too deeply.", code="invalid_json"
        ) from None


def _invalid(param: str, message: str) -> RelayError:
    return invalid_request(message, param=param, code="invalid_value")


def _check_models(models: list[str], known: Callable[[str], bool]) -> list[str]:
    for i, name in enumerate(models):
        if not known(name):
            raise _invalid(
                f"models[{i}]", f"Unknown model {name!r}: list the models with GET /admin/models."
            )
    return list(dict.fromkeys(models))


def _check_networks(networks: list[str]) -> list[str]:
    checked = []
    for i, text in enumerate(networks):
        try:
            if not re.fullmatch(NETWORK_PATTERN, text):
                raise ValueError("expected an IPv4 or IPv6 address, or a network like 10.0.0.0/8")
            checked.append(str(ipaddress.ip_network(text, strict=True)))
        except ValueError as exc:
            raise _invalid(f"allowed_ips[{i}]", f"Invalid network {text!r}: {exc}.") from None
    return checked


def _check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(metadata))
    except orjson.JSONEncodeError:  # nested deeper than orjson goes (254 levels)
        raise _invalid("metadata", "metadata is nested too deeply.") from None
    if size > MAX_METADATA_BYTES:
        raise _invalid(
            "metadata", f"metadata is {size} bytes once encoded; at most {MAX_METADATA_BYTES}."
        )
    return metadata


def checked_fields(fields: dict[str, Any], known_model: Callable[[str], bool]) -> dict[str, Any]:
    for name, empty in _CLEARED.items():
        if name in fields and fields[name] is None:
            fields[name] = empty
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not re.search(NAME_PATTERN, fields["name"]):
            raise _invalid("name", "A key's name cannot be blank.")
    if "models" in fields:
        fields["models"] = _check_models(fields["models"], known_model)
    if "allowed_ips" in fields:
        fields["allowed_ips"] = _check_networks(fields["allowed_ips"])
    if "metadata" in fields:
        fields["metadata"] = _check_metadata(fields["metadata"])
    return fields


def key_create_fields(raw: bytes, known_model: Callable[[str], bool]) -> dict[str, Any]:
    """Every field of a create body, checked, as `KeyStore.create` takes them."""
    body = decode_body(raw, KeyCreate)
    return checked_fields(msgspec.structs.asdict(body), known_model)


def key_patch_fields(raw: bytes, known_model: Callable[[str], bool]) -> dict[str, Any]:
    """Only the fields a PATCH body sets, checked, as `KeyStore.update` takes them."""
    body = decode_body(raw, KeyPatch)
    fields = {
        name: value
        for name, value in msgspec.structs.asdict(body).items()
        if value is not msgspec.UNSET
    }
    return checked_fields(fields, known_model)
