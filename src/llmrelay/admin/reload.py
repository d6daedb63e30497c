"""`POST /admin/reload`: read the configuration file again, as SIGHUP does (reload.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response
from llmrelay.reload import ReloadReport, reload_relay

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def reload_endpoints(relay: Relay) -> list[Endpoint]:
    async def reload(_request: Request) -> Response:
        return json_response(await reload_relay(relay))

    return [
        Endpoint(
            "POST", "/admin/reload", reload,
            "Reload providers, models, prices and routing from the configuration file "
            "(400 for a bad file, 422 for a provider that cannot start: the configuration "
            "in force keeps serving)", ReloadReport,
        )
    ]  # fmt: skip
