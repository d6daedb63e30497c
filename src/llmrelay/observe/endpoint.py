"""`GET /metrics` on the relay's port: the admin key's, unless `metrics.public: true`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.endpoint import request_token

if TYPE_CHECKING:
    from llmrelay.relay import Relay

METRICS_PATH = "/metrics"


def metrics_routes(relay: Relay) -> list[Route]:
    async def metrics(request: Request) -> Response:
        if not relay.settings.metrics.public:
            await relay.keys.require_admin(request_token(request))
        body, content_type = relay.observer.render(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    return [Route(METRICS_PATH, metrics, methods=["GET"])]
