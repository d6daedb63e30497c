"""`GET /models`: the model catalogue page, for people (`/v1/models` is for programs).

Public unless `catalogue.public: false`; then it answers a request that carries no key with
a sign-in form (401), and one that carries a key (`Authorization: Bearer`, as the API takes
it; the page's script sends it) with the models that key may use. `?lang=en|zh` switches the
language and remembers it in the `llmrelay_lang` cookie.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from llmrelay.admin.endpoint import caller_key
from llmrelay.admin.models import model_infos
from llmrelay.console import SECURITY_HEADERS
from llmrelay.console.catalogue_page import catalogue_body, page, sign_in_body
from llmrelay.console.i18n import COOKIE, LANGUAGES, Strings, language_from
from llmrelay.wire.credentials import api_key_or_bearer

if TYPE_CHECKING:
    from llmrelay.relay import Relay

YEAR = 365 * 24 * 3600
HEADERS = {
    **SECURITY_HEADERS,
    "cache-control": "no-store",  # health is live, and the page differs by key and language
    "vary": "Accept-Language, Cookie, Authorization",
}


def chosen_language(request: Request) -> tuple[str, str | None]:
    """The page's language, and the one `?lang=` asked to remember, if any."""
    asked = request.query_params.get("lang")
    cookies = dict(request.cookies)
    if asked in LANGUAGES:
        cookies[COOKIE] = asked
    return language_from(cookies, request.headers.get("accept-language")), (
        asked if asked in LANGUAGES else None
    )


def catalogue_routes(relay: Relay) -> list[Route]:
    async def catalogue(request: Request) -> Response:
        language, remember = chosen_language(request)
        t = Strings(language)
        if relay.settings.catalogue.public:
            models = model_infos(relay.catalog)
        elif api_key_or_bearer(request.scope) is None:
            response = HTMLResponse(page(t, sign_in_body(t), status_class="private"), 401, HEADERS)
            response.headers["www-authenticate"] = "Bearer"
            return _remembering(response, remember)
        else:  # a wrong key gets the API's 401 (its message is shown on the form)
            models = model_infos(relay.catalog, await caller_key(relay, request))
        base_url = str(request.base_url).rstrip("/")
        html = page(t, catalogue_body(models, base_url, t))
        return _remembering(HTMLResponse(html, headers=HEADERS), remember)

    return [Route("/models", catalogue, methods=["GET", "HEAD"])]


def _remembering(response: Response, language: str | None) -> Response:
    if language is not None:  # readable by scripts: the console's switch writes it too
        response.set_cookie(COOKIE, language, max_age=YEAR, path="/", samesite="lax")
    return response
