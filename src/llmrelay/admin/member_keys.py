"""`/v1/account/keys...` and `/v1/account/usage`: a signed-in member manages the account's
keys and reads its usage.

An `owner` sees and manages every key of the account; a `member` the keys they created; a
`viewer` reads the account's keys and usage and changes nothing. Another account's keys, or
another member's for a `member`, are answered 404 as if they did not exist. Keys go through
the same `KeyStore`, bodies and key object as the admin API, so every change moves the key
generation and every replica sees it within a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response, read_body
from llmrelay.admin.key_bodies import key_create_fields, key_patch_fields
from llmrelay.admin.key_narrowing import OPERATOR_FIELDS, cannot_widen, narrower, within_account
from llmrelay.admin.key_object import key_created, key_object, standing_if_known, standing_of
from llmrelay.admin.keys import key_not_found, name_taken
from llmrelay.admin.member_auth import not_signed_in, require_role, signed_in
from llmrelay.admin.shapes import KeyCreate, KeyCreated, KeyList, KeyObject, KeyPatch, UsageList
from llmrelay.admin.usage import usage_row
from llmrelay.admin.usage_params import USAGE_PARAMS, group_by, usage_filter
from llmrelay.protocol.errors import RelayError
from llmrelay.store.keys import ApiKey, KeyExists, KeyRevoked, KeyStore
from llmrelay.store.members import MemberStore, Session
from llmrelay.store.usage_queries import UsageQueries

if TYPE_CHECKING:
    from llmrelay.relay import Relay

MANAGERS = ("owner", "member")


def _sees(session: Session, key: ApiKey) -> bool:
    member = session.member
    if key.account_id != member.account_id:
        return False
    return member.role != "member" or key.created_by == member.id


class MemberKeyRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.members = MemberStore(relay.engine)
        self.keys = KeyStore(relay.engine, relay.generation)
        self.queries = UsageQueries(relay.engine)

    def _known_model(self, name: str) -> bool:
        return self.relay.catalog.lookup(name) is not None

    async def _account_keys(self, session: Session) -> list[ApiKey]:
        keys = await asyncio.to_thread(self.keys.all)
        return [key for key in keys if key.account_id == session.member.account_id]

    async def _managing(self, request: Request, action: str) -> Session:
        session = await signed_in(self.members, request)
        require_role(session, action, *MANAGERS)
        return session

    async def _key(self, session: Session, key_id: str) -> ApiKey:
        """The key if this member may see it; 404 otherwise (another account's included)."""
        key = next((k for k in await self._account_keys(session) if k.id == key_id), None)
        if key is None or not _sees(session, key):
            raise key_not_found(key_id)
        return key

    async def _account(self, session: Session) -> dict[str, Any]:
        limits = await asyncio.to_thread(self.members.account_limits, session.member.account_id)
        if limits is None:
            raise not_signed_in()  # the account went away under the session
        return limits

    async def _run(self, operation: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(operation, *args)
        except KeyExists as exc:
            raise name_taken(exc) from None
        except KeyRevoked as exc:
            raise RelayError(409, f"{exc}.", param="id", code="key_revoked") from None

    async def _object(self, key: ApiKey) -> KeyObject:
        return key_object(key, await standing_of(self.relay, key), time.time())

    async def list_keys(self, request: Request) -> Response:
        session = await signed_in(self.members, request)
        keys = [key for key in await self._account_keys(session) if _sees(session, key)]
        return json_response(KeyList(data=[await self._object(key) for key in keys]))

    async def create(self, request: Request) -> Response:
        session = await self._managing(request, "create keys")
        fields = key_create_fields(await read_body(request), self._known_model)
        for name in OPERATOR_FIELDS:
            if fields.get(name) is not None:
                raise cannot_widen(name, "a member's key is made in the member's account")
        within_account(fields, await self._account(session))
        fields.update(account_id=session.member.account_id, created_by=session.member.id)
        key, secret = await self._run(lambda: self.keys.create(**fields))
        standing = await standing_if_known(self.relay, key)
        return json_response(key_created(key, secret, standing, time.time()), 201)

    async def update(self, request: Request) -> Response:
        session = await self._managing(request, "change keys")
        key = await self._key(session, request.path_params["id"])
        fields = key_patch_fields(await read_body(request), self._known_model)
        narrower(fields, key, await self._account(session))
        return json_response(await self._object(await self._run(self.keys.update, key.id, fields)))

    async def disable(self, request: Request) -> Response:
        session = await self._managing(request, "change keys")
        key = await self._key(session, request.path_params["id"])
        disabled = await self._run(self.keys.disable, key.id, session.member.id)
        return json_response(await self._object(disabled))

    async def enable(self, request: Request) -> Response:
        session = await self._managing(request, "change keys")
        key = await self._key(session, request.path_params["id"])
        if key.disabled_at is not None and key.disabled_by is None:
            raise RelayError(
                403, "The operator disabled this key: only the operator can enable it.",
                type="permission_error", param="id", code="disabled_by_operator",
            )  # fmt: skip
        return json_response(await self._object(await self._run(self.keys.enable, key.id)))

    async def rotate(self, request: Request) -> Response:
        session = await self._managing(request, "rotate keys")
        key = await self._key(session, request.path_params["id"])
        key, secret = await self._run(self.keys.rotate, key.id)
        standing = await standing_if_known(self.relay, key)
        return json_response(key_created(key, secret, standing, time.time()))

    async def usage(self, request: Request) -> Response:
        """The account's usage (every key of it, whatever the role), grouped as asked."""
        session = await signed_in(self.members, request)
        ids = tuple(key.id for key in await self._account_keys(session))
        where = dataclasses.replace(usage_filter(request.query_params), key_ids=ids)
        rows = await asyncio.to_thread(
            self.queries.aggregate, where, group_by(request.query_params)
        )
        return json_response(UsageList(data=[usage_row(row) for row in rows]))


def member_key_endpoints(relay: Relay) -> list[Endpoint]:
    routes = MemberKeyRoutes(relay)
    many, one = "/v1/account/keys", "/v1/account/keys/{id}"
    member = {"caller": "member"}
    return [
        Endpoint("GET", many, routes.list_keys, "The account's keys this member may see",
                 KeyList, **member),
        Endpoint("POST", many, routes.create, "Create a key in the account (secret shown once)",
                 KeyCreated, body=KeyCreate, status=201, **member),
        Endpoint("PATCH", one, routes.update, "Narrow a key's limits", KeyObject,
                 body=KeyPatch, **member),
        Endpoint("POST", one + "/disable", routes.disable, "Refuse a key", KeyObject, **member),
        Endpoint("POST", one + "/enable", routes.enable, "Accept a disabled key again",
                 KeyObject, **member),
        Endpoint("POST", one + "/rotate", routes.rotate, "Give a key a new secret", KeyCreated,
                 **member),
        Endpoint("GET", "/v1/account/usage", routes.usage,
                 "The account's usage by day, hour, model and key", UsageList,
                 query=USAGE_PARAMS, **member),
    ]  # fmt: skip
