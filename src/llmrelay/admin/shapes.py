"""The admin and customer API's wire shapes, typed once.

The same structs decode request bodies (with their bounds), encode responses, and generate
the OpenAPI document's schemas, so the documentation cannot drift from what is served.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from llmrelay.routing.catalog import ModelCapabilities

MAX_INT32 = 2_147_483_647
MAX_BUDGET_USD = 1e9
"""A billion dollars: far above any real budget, and a sum nano-dollars still hold in 64 bits."""
MAX_UNIX_TIME = 253_402_300_799
"""9999-12-31 23:59:59 UTC: the last second Python's datetime (and the console) can show."""

# Patterns in the subset of regex syntax ECMA-262 (OpenAPI's) and Python share; the API
# checks each with `re.fullmatch` (see `key_bodies`), so the document says what is enforced.
NAME_PATTERN = r"\S"
"""Not blank: a name is stripped of surrounding whitespace, and must keep something."""
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_HEX = "[0-9A-Fa-f]{0,4}"
_IPV6 = f"({_HEX}:){{2,7}}{_HEX}|({_HEX}:){{2,6}}{_IPV4}"
NETWORK_PATTERN = (
    f"^({_IPV4}(/(3[0-2]|[12]?[0-9]))?|({_IPV6})(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
)
"""An IPv4 or IPv6 address, or a network in CIDR notation (its host bits zero, which only
parsing can tell)."""

Name = Annotated[
    str, Meta(min_length=1, max_length=200, extra_json_schema={"pattern": NAME_PATTERN})
]
Usd = Annotated[float, Meta(ge=0, le=MAX_BUDGET_USD)]
UnixTime = Annotated[float, Meta(ge=0, le=MAX_UNIX_TIME)]
Limit = Annotated[int, Meta(ge=1, le=MAX_INT32, description="null means unlimited")]
Period = Literal["total", "daily", "weekly", "monthly"]
KeyStatus = Literal["active", "disabled", "expired", "revoked"]
Models = Annotated[list[str], Meta(max_length=1000)]
Network = Annotated[str, Meta(extra_json_schema={"pattern": NETWORK_PATTERN})]
Networks = Annotated[list[Network], Meta(max_length=256, description="CIDRs or addresses")]
Metadata = Annotated[dict[str, Any], Meta(description="any JSON object, at most 16 KB")]
AccountId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=40,
        description="the account it belongs to: its limits can only narrow the account's",
    ),
]


class KeyCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /admin/keys`: only `name` is required."""

    name: Name
    models: Models = []
    budget_usd: Usd | None = None
    budget_period: Period = "total"
    expires_at: UnixTime | None = None
    rpm: Limit | None = None
    tpm: Limit | None = None
    max_concurrent: Limit | None = None
    allowed_ips: Networks = []
    metadata: Metadata = {}
    account_id: AccountId | None = None


class KeyPatch(Struct, forbid_unknown_fields=True, kw_only=True):
    """`PATCH /admin/keys/{id}`: fields left out stay as they are; null clears a limit."""

    name: Name | UnsetType = UNSET
    models: Models | UnsetType | None = UNSET
    budget_usd: Usd | UnsetType | None = UNSET
    budget_period: Period | UnsetType | None = UNSET
    expires_at: UnixTime | UnsetType | None = UNSET
    rpm: Limit | UnsetType | None = UNSET
    tpm: Limit | UnsetType | None = UNSET
    max_concurrent: Limit | UnsetType | None = UNSET
    allowed_ips: Networks | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET
    account_id: AccountId | UnsetType | None = UNSET


class KeyObject(Struct, kw_only=True):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    key_prefix: str
    status: KeyStatus
    models: list[str]
    budget_usd: float | None
    budget_period: Period
    spend_usd: float
    budget_remaining_usd: float | None
    budget_resets_at: int | None
    expires_at: int | None
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    allowed_ips: list[str]
    metadata: dict[str, Any]
    created_at: int
    updated_at: int | None
    disabled_at: int | None
    revoked_at: int | None
    account_id: str | None = None


class KeyCreated(KeyObject, kw_only=True):
    """A key object with its secret: shown on create and rotate, never again."""

    key: str


class KeyList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[KeyObject]


class KeyDeleted(Struct, kw_only=True):
    id: str
    object: Literal["api_key"] = "api_key"
    deleted: bool = True


class UsageRow(Struct, kw_only=True):
    """One group of ledger records; the grouping fields appear only when grouped by them."""

    day: str | UnsetType = UNSET
    hour: str | UnsetType = UNSET
    model: str | UnsetType | None = UNSET
    key_id: str | UnsetType | None = UNSET
    key_name: str | UnsetType | None = UNSET
    account_id: str | UnsetType | None = UNSET
    account_name: str | UnsetType | None = UNSET
    endpoint: str | UnsetType = UNSET
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: float


class UsageList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[UsageRow]


class RequestRecord(Struct, kw_only=True):
    """One ledger row: one request, however it ended."""

    request_id: str
    created_at: int
    key_id: str | None
    key_name: str | None
    model: str | None
    provider: str | None
    upstream_model: str | None
    stream: bool
    status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    client_disconnected: bool
    usage_estimated: bool
    endpoint: str
    """The door the request came in by (`chat`, `messages`, `responses`, ...)."""
    client_ip: str | None
    """The client's address: behind `server.trusted_proxies`, the one they forwarded."""


class RequestList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[RequestRecord]
    has_more: bool
    next_cursor: str | None


class ModelPrice(Struct, kw_only=True):
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float
    cache_write: float


class DeploymentHealth(Struct, kw_only=True):
    provider: str
    upstream_model: str
    priority: int
    weight: float
    state: Literal["healthy", "cooldown", "half_open"]
    cooldown_remaining_seconds: float
    consecutive_failures: int


class ModelInfo(Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    owned_by: str
    description: str | None
    aliases: list[str]
    provider: str
    capabilities: ModelCapabilities
    context_length: int | None
    price: ModelPrice | None
    health: list[DeploymentHealth]


class ModelList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelInfo]


class BillingSubscription(Struct, kw_only=True):
    """OpenAI's old `GET /v1/dashboard/billing/subscription`."""

    object: Literal["billing_subscription"] = "billing_subscription"
    has_payment_method: bool = True
    hard_limit_usd: float
    soft_limit_usd: float
    system_hard_limit_usd: float
    access_until: int


class BillingLineItem(Struct, kw_only=True):
    name: str
    cost: Annotated[float, Meta(description="US cents")]


class BillingDay(Struct, kw_only=True):
    timestamp: int
    line_items: list[BillingLineItem]


class BillingUsage(Struct, kw_only=True):
    """OpenAI's old `GET /v1/dashboard/billing/usage`; costs in cents, as OpenAI's were."""

    object: Literal["list"] = "list"
    daily_costs: list[BillingDay]
    total_usage: Annotated[float, Meta(description="US cents")]


class ErrorDetail(Struct, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(Struct, kw_only=True):
    error: ErrorDetail


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)
