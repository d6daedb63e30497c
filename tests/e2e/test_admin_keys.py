"""The admin API's keys, over a real socket: what an operator does to a key is what its holder
meets on their very next request (through the official openai SDK)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture()
def admin(relay: RunningRelay) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as client:
        yield client


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = admin.post("/admin/keys", json={"name": unique(), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def chat(relay: RunningRelay, secret: str, model: str = "gpt-5") -> str:
    with openai.OpenAI(base_url=relay.base_url, api_key=secret, max_retries=0) as client:
        reply = client.chat.completions.create(model=model, messages=HELLO)
    return reply.choices[0].message.content or ""


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"v": 1}
    for _ in range(depth):
        value = {"v": value}
    return value


def refusal(relay: RunningRelay, secret: str) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        chat(relay, secret)
    return caught.value


def test_create_shows_the_secret_once_and_the_key_works(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    fields = {
        "models": ["gpt-5", "qwen3-max"],
        "budget_usd": 10,
        "budget_period": "monthly",
        "expires_at": 4_000_000_000,
        "rpm": 600,
        "tpm": 1_000_000,
        "max_concurrent": 8,
        "allowed_ips": ["127.0.0.0/8", "::1"],
        "metadata": {"team": "a", "cost_centre": 42},
    }
    created = create(admin, **fields)
    secret = created.pop("key")
    assert secret.startswith("sk-") and created["key_prefix"] == secret[:8]
    assert created["object"] == "api_key" and created["status"] == "active"
    assert created["allowed_ips"] == ["127.0.0.0/8", "::1/128"]
    assert {k: created[k] for k in fields if k != "allowed_ips"} == {
        k: v for k, v in fields.items() if k != "allowed_ips"
    }
    assert created["spend_usd"] == 0 and created["budget_remaining_usd"] == 10
    assert created["budget_resets_at"] > time.time()
    assert chat(relay, secret).startswith("echo:")
    shown = admin.get(f"/admin/keys/{created['id']}").json()
    assert "key" not in shown and shown["name"] == created["name"]
    listed = admin.get("/admin/keys").json()
    assert listed["object"] == "list"
    assert created["id"] in {k["id"] for k in listed["data"]}
    assert secret not in str(listed)


def test_a_key_without_limits_reports_nulls(admin: httpx.Client) -> None:
    created = create(admin)
    assert created["models"] == [] and created["allowed_ips"] == [] and created["metadata"] == {}
    for name in ("budget_usd", "budget_remaining_usd", "budget_resets_at", "expires_at", "rpm"):
        assert created[name] is None, name
    assert created["budget_period"] == "total" and created["disabled_at"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "rpm": 0}, "rpm"),
        ({"name": "x", "tpm": "100"}, "tpm"),
        ({"name": "x", "max_concurrent": -1}, "max_concurrent"),
        ({"name": "x", "budget_usd": -0.01}, "budget_usd"),
        ({"name": "x", "budget_period": "yearly"}, "budget_period"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "allowed_ips": ["10.0.0.0/8", "10.0.0.300"]}, "allowed_ips[1]"),
        ({"name": "x", "allowed_ips": ["10.1.2.3/8"]}, "allowed_ips[0]"),
        ({"name": "x", "models": ["gpt-6"]}, "models[0]"),
        ({"name": "x", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"name": "x", "metadata": {"blob": "x" * 17_000}}, "metadata"),
        ({"name": "x", "metadata": nested(300)}, "metadata"),  # deeper than orjson encodes
        ({"name": "x", "budget_usd": 1e300}, "budget_usd"),
        ({"name": "x", "budget_usd": 1_000_000_001}, "budget_usd"),
        ({"name": "x", "expires_at": 253_402_300_800}, "expires_at"),  # the year 10000
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_create_bodies_name_the_field(
    admin: httpx.Client, body: dict[str, Any], param: str
) -> None:
    response = admin.post("/admin/keys", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_a_huge_budget_is_refused_and_the_key_list_keeps_working(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    """A budget too large for nano-dollars used to be stored, and then broke the key list and
    every request made with the key. The largest one accepted works end to end."""
    refused = admin.post("/admin/keys", json={"name": unique("huge"), "budget_usd": 1e300})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "budget_usd"
    created = create(admin, budget_usd=1e9, expires_at=253_402_300_799)
    patched = admin.patch(f"/admin/keys/{created['id']}", json={"budget_usd": 1e300})
    assert patched.status_code == 400 and patched.json()["error"]["param"] == "budget_usd"
    listed = admin.get("/admin/keys")
    assert listed.status_code == 200 and created["id"] in {k["id"] for k in listed.json()["data"]}
    assert chat(relay, created["key"]).startswith("echo:")
    assert admin.get(f"/admin/keys/{created['id']}").json()["budget_remaining_usd"] > 0


def test_a_body_that_is_not_json_is_400(admin: httpx.Client) -> None:
    too_deep = b'{"name": "x", "metadata": {"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}"
    for content in (b"{", b"", b"[1]", too_deep):
        response = admin.post("/admin/keys", content=content)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_names_are_unique(admin: httpx.Client) -> None:
    first = create(admin)
    again = admin.post("/admin/keys", json={"name": first["name"]})
    assert again.status_code == 409 and again.json()["error"]["param"] == "name"
    other = create(admin)
    rename = admin.patch(f"/admin/keys/{other['id']}", json={"name": first["name"]})
    assert rename.status_code == 409 and rename.json()["error"]["code"] == "key_exists"


def test_unknown_ids_are_404(admin: httpx.Client) -> None:
    for method, path in [
        ("GET", "/admin/keys/key_missing"),
        ("PATCH", "/admin/keys/key_missing"),
        ("DELETE", "/admin/keys/key_missing"),
        ("POST", "/admin/keys/key_missing/disable"),
        ("POST", "/admin/keys/key_missing/enable"),
        ("POST", "/admin/keys/key_missing/rotate"),
    ]:
        response = admin.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "key_not_found"


def test_patch_changes_what_it_names_and_null_clears(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    created = create(admin, rpm=100, tpm=5000, models=["qwen3-max"], metadata={"a": 1})
    path = f"/admin/keys/{created['id']}"
    changed = admin.patch(path, json={"rpm": 200, "models": ["gpt-5"], "budget_usd": 3}).json()
    assert (changed["rpm"], changed["tpm"], changed["models"]) == (200, 5000, ["gpt-5"])
    assert changed["budget_usd"] == 3 and changed["metadata"] == {"a": 1}
    assert chat(relay, created["key"], "gpt-5").startswith("echo:")
    with pytest.raises(openai.NotFoundError):
        chat(relay, created["key"], "qwen3-max")
    cleared = admin.patch(path, json={"rpm": None, "models": None, "budget_usd": None}).json()
    assert cleared["rpm"] is None and cleared["models"] == [] and cleared["budget_usd"] is None
    assert chat(relay, created["key"], "qwen3-max").startswith("echo:")
    bad = admin.patch(path, json={"name": None})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "name"
    bad = admin.patch(path, json={"secret": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "secret"


def test_disable_refuses_on_the_next_request_and_enable_restores(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    created = create(admin)
    assert chat(relay, created["key"])
    disabled = admin.post(f"/admin/keys/{created['id']}/disable").json()
    assert disabled["status"] == "disabled" and disabled["disabled_at"] is not None
    error = refusal(relay, created["key"])
    assert error.status_code == 401 and error.code == "key_disabled"
    assert admin.get("/admin/keys", params={"status": "disabled"}).json()["data"]
    models = httpx.get(
        relay.base_url + "/models", headers={"authorization": f"Bearer {created['key']}"}
    )
    assert models.status_code == 401
    enabled = admin.post(f"/admin/keys/{created['id']}/enable").json()
    assert enabled["status"] == "active" and enabled["disabled_at"] is None
    assert chat(relay, created["key"])


def test_expiry_refuses_the_key_and_lifting_it_restores(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    created = create(admin, expires_at=time.time() + 3600)
    assert chat(relay, created["key"])
    path = f"/admin/keys/{created['id']}"
    expired = admin.patch(path, json={"expires_at": time.time() - 1}).json()
    assert expired["status"] == "expired"
    error = refusal(relay, created["key"])
    assert error.status_code == 401 and error.code == "key_expired"
    assert admin.patch(path, json={"expires_at": None}).json()["status"] == "active"
    assert chat(relay, created["key"])


def test_rotate_replaces_the_secret_at_once(relay: RunningRelay, admin: httpx.Client) -> None:
    created = create(admin, rpm=1000, metadata={"who": "rotated"})
    rotated = admin.post(f"/admin/keys/{created['id']}/rotate")
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["id"] == created["id"] and body["key"] != created["key"]
    assert body["rpm"] == 1000 and body["metadata"] == {"who": "rotated"}
    error = refusal(relay, created["key"])
    assert error.status_code == 401 and error.code == "invalid_api_key"
    assert chat(relay, body["key"])


def test_delete_refuses_the_key_and_keeps_its_usage(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    created = create(admin)
    with openai.OpenAI(base_url=relay.base_url, api_key=created["key"], max_retries=0) as c:
        request_id = c.chat.completions.with_raw_response.create(
            model="gpt-5", messages=HELLO
        ).headers["x-request-id"]
    relay.ledger_row(request_id)
    deleted = admin.delete(f"/admin/keys/{created['id']}")
    assert deleted.json() == {"id": created["id"], "object": "api_key", "deleted": True}
    assert refusal(relay, created["key"]).code == "invalid_api_key"
    assert admin.get(f"/admin/keys/{created['id']}").status_code == 404
    log = admin.get("/admin/requests", params={"key_id": created["id"]}).json()
    assert [r["request_id"] for r in log["data"]] == [request_id]


def test_list_filters_by_status(admin: httpx.Client) -> None:
    active = create(admin)
    disabled = create(admin)
    admin.post(f"/admin/keys/{disabled['id']}/disable")

    def ids(status: str) -> set[str]:
        return {k["id"] for k in admin.get("/admin/keys", params={"status": status}).json()["data"]}

    assert active["id"] in ids("active") and active["id"] not in ids("disabled")
    assert disabled["id"] in ids("disabled") and disabled["id"] not in ids("active")
    bad = admin.get("/admin/keys", params={"status": "sleeping"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"


def test_no_key_is_401_and_an_api_key_is_403_on_every_admin_route(
    relay: RunningRelay, admin: httpx.Client, api_key: str
) -> None:
    document = admin.get("/admin/openapi.json").json()
    routes = [
        (method.upper(), path.replace("{id}", "key_x"))
        for path, operations in document["paths"].items()
        if path.startswith("/admin/")
        for method in operations
    ]
    assert len(routes) >= 12
    for method, path in routes:
        anonymous = httpx.request(method, relay.url + path, json={})
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.request(method, relay.url + path, headers={"authorization": "Bearer sk-no"})
        assert wrong.status_code == 401, (method, path)
        customer = httpx.request(
            method, relay.url + path, headers={"authorization": f"Bearer {api_key}"}, json={}
        )
        assert customer.status_code == 403, (method, path)
        error = customer.json()["error"]
        assert (error["type"], error["code"]) == ("permission_error", "admin_required")


def test_keys_made_on_the_command_line_show_in_the_api_and_back(
    relay: RunningRelay, admin: httpx.Client
) -> None:
    name = unique("cli")
    made = relay.cli(
        "keys", "create", "--name", name, "--budget-usd", "5", "--budget-period", "daily",
        "--rpm", "30", "--allow-ip", "10.0.0.0/8", "--allow-ip", "192.168.1.7",
        "--metadata", '{"owner": "ops"}', "--expires-at", "2099-01-01",
    )  # fmt: skip
    secret = made.stdout.strip().splitlines()[-1]
    [key] = [k for k in admin.get("/admin/keys").json()["data"] if k["name"] == name]
    assert key["key_prefix"] == secret[:8] and key["budget_period"] == "daily"
    assert key["budget_usd"] == 5 and key["rpm"] == 30 and key["metadata"] == {"owner": "ops"}
    assert key["allowed_ips"] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert key["expires_at"] == 4070908800
    admin.post(f"/admin/keys/{key['id']}/disable")
    row = next(line for line in relay.cli("keys", "list").stdout.splitlines() if name in line)
    assert "disabled" in row and "$5 daily" in row and "30 rpm" in row
    relay.cli("keys", "enable", name)
    relay.cli("keys", "update", name, "--rpm", "none", "--tpm", "900", "--allow-ip", "any")
    changed = admin.get(f"/admin/keys/{key['id']}").json()
    assert changed["status"] == "active" and changed["rpm"] is None and changed["tpm"] == 900
    assert changed["allowed_ips"] == []


def test_the_command_line_rotates_disables_and_deletes(relay: RunningRelay) -> None:
    name = unique("cli")
    first = relay.cli("keys", "create", "--name", name).stdout.strip().splitlines()[-1]
    rotated = relay.cli("keys", "rotate", name).stdout.strip().splitlines()[-1]
    assert rotated.startswith("sk-") and rotated != first
    assert refusal(relay, first).code == "invalid_api_key"
    relay.cli("keys", "disable", name)
    assert refusal(relay, rotated).code == "key_disabled"
    relay.cli("keys", "enable", name)
    assert chat(relay, rotated)
    relay.cli("keys", "delete", name)
    assert refusal(relay, rotated).code == "invalid_api_key"
    assert name not in relay.cli("keys", "list").stdout
    bad = relay.cli("keys", "update", "nobody-here", "--rpm", "5", check=False)
    assert bad.returncode == 1 and "nobody-here" in bad.stderr
    bad = relay.cli("keys", "create", "--name", unique(), "--allow-ip", "10.0.0.1/8", check=False)
    assert bad.returncode == 2 and "host bits" in bad.stderr


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--budget-usd", "1e300", "budget_usd"),
        ("--budget-usd", "inf", "finite"),
        ("--expires-at", "1e12", "expires_at"),
        ("--expires-at", "nan", "finite"),
    ],
)
def test_the_command_line_refuses_out_of_range_limits(
    relay: RunningRelay, option: str, value: str, says: str
) -> None:
    name = unique("cli")
    bad = relay.cli("keys", "create", "--name", name, option, value, check=False)
    assert bad.returncode == 2 and says in bad.stderr, bad.stderr
    assert name not in relay.cli("keys", "list").stdout
