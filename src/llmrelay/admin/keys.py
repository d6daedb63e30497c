"""`/admin/keys...`: create, list, read, change, disable, enable, rotate and delete keys.

Every change goes through a `KeyStore` holding the shared generation counter, so every relay
process sharing the data directory refuses or accepts the key on its very next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_args

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response, query, read_body
from llmrelay.admin.key_account import check_key_fields
from llmrelay.admin.key_bodies import key_create_fields, key_patch_fields
from llmrelay.admin.key_object import key_created, key_object, standing_if_known, standing_of
from llmrelay.admin.shapes import (
    KeyCreate,
    KeyCreated,
    KeyDeleted,
    KeyList,
    KeyObject,
    KeyPatch,
    KeyStatus,
)
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.store.accounts import AccountStore
from llmrelay.store.keys import ApiKey, KeyExists, KeyNotFound, KeyRevoked, KeyStore

if TYPE_CHECKING:
    from llmrelay.relay import Relay

STATUSES = get_args(KeyStatus)


def key_not_found(key_id: str) -> RelayError:
    return RelayError(404, f"No key with id {key_id!r}.", param="id", code="key_not_found")


def name_taken(error: KeyExists) -> RelayError:
    return RelayError(409, f"{str(error).capitalize()}.", param="name", code="key_exists")


class KeyRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.store = KeyStore(relay.engine, relay.generation)
        self.accounts = AccountStore(relay.engine)

    def _known_model(self, name: str) -> bool:
        return self.relay.catalog.lookup(name) is not None

    async def _object(self, key: ApiKey) -> KeyObject:
        return key_object(key, await standing_of(self.relay, key), time.time())

    async def _created(self, key: ApiKey, secret: str) -> KeyCreated:
        return key_created(key, secret, await standing_if_known(self.relay, key), time.time())

    async def _run(self, operation: Callable[..., Any], *args: Any) -> Any:
        """A blocking store call in a worker thread, its errors as API errors."""
        try:
            return await asyncio.to_thread(operation, *args)
        except KeyNotFound:
            raise key_not_found(str(args[0])) from None
        except KeyExists as exc:
            raise name_taken(exc) from None
        except KeyRevoked as exc:
            raise RelayError(409, f"{exc}.", param="id", code="key_revoked") from None

    async def create(self, request: Request) -> Response:
        fields = key_create_fields(await read_body(request), self._known_model)
        await asyncio.to_thread(check_key_fields, self.accounts, fields)
        key, secret = await self._run(lambda: self.store.create(**fields))
        return json_response(await self._created(key, secret), 201)

    async def list_keys(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            raise invalid_request(
                f"Invalid 'status': expected one of {', '.join(STATUSES)}.",
                param="status",
                code="invalid_value",
            )
        keys = await asyncio.to_thread(self.store.all)
        now = time.time()
        keys = [key for key in keys if status is None or key.status(now) == status]
        return json_response(KeyList(data=[await self._object(key) for key in keys]))

    async def get(self, request: Request) -> Response:
        key = await self._run(self.store.get, request.path_params["id"])
        return json_response(await self._object(key))

    async def update(self, request: Request) -> Response:
        fields = key_patch_fields(await read_body(request), self._known_model)
        current = await self._run(self.store.get, request.path_params["id"])
        await asyncio.to_thread(check_key_fields, self.accounts, fields, current)
        key = await self._run(self.store.update, request.path_params["id"], fields)
        return json_response(await self._object(key))

    async def delete(self, request: Request) -> Response:
        key = await self._run(self.store.delete, request.path_params["id"])
        return json_response(KeyDeleted(id=key.id))

    async def disable(self, request: Request) -> Response:
        key = await self._run(self.store.disable, request.path_params["id"])
        return json_response(await self._object(key))

    async def enable(self, request: Request) -> Response:
        key = await self._run(self.store.enable, request.path_params["id"])
        return json_response(await self._object(key))

    async def rotate(self, request: Request) -> Response:
        key, secret = await self._run(self.store.rotate, request.path_params["id"])
        return json_response(await self._created(key, secret))


def key_endpoints(relay: Relay) -> list[Endpoint]:
    routes = KeyRoutes(relay)
    status = query("status", "only keys in this status", enum=list(STATUSES))
    one = "/admin/keys/{id}"
    return [
        Endpoint(
            "POST", "/admin/keys", routes.create, "Create a key (its secret is shown this once)",
            KeyCreated, body=KeyCreate, status=201,
        ),
        Endpoint("GET", "/admin/keys", routes.list_keys, "List keys", KeyList, query=(status,)),
        Endpoint("GET", one, routes.get, "Read a key", KeyObject),
        Endpoint("PATCH", one, routes.update, "Change a key's fields", KeyObject, body=KeyPatch),
        Endpoint("DELETE", one, routes.delete, "Delete a key (its usage stays)", KeyDeleted),
        Endpoint("POST", one + "/disable", routes.disable, "Refuse a key", KeyObject),
        Endpoint("POST", one + "/enable", routes.enable, "Accept a disabled key again", KeyObject),
        Endpoint(
            "POST", one + "/rotate", routes.rotate, "Give a key a new secret", KeyCreated
        ),
    ]  # fmt: skip
