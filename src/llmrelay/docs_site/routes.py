"""The docs site's routes: `/docs/` and `/docs/<page>` (HTML), `/docs/<page>.md` (the Markdown
as it is in the repository), `/llms.txt`, `/llms-full.txt` and `/openapi.json`. All public:
they describe the product, never a key or a deployment's secrets.

Pages are rendered once, when the routes are built (a relay's docs change with its version,
not while it runs). `/docs/<page>` answers in the reader's language (`language.py`), and says
so in `Vary`; `/docs/zh/<page>` is the Chinese page whatever the reader's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.docs_site.language import COOKIE, COOKIE_MAX_AGE, LANGUAGES, chosen_language
from llmrelay.docs_site.layout import STYLESHEET, View, page_html
from llmrelay.docs_site.library import INDEX, Library, page_url
from llmrelay.docs_site.llms_txt import llms_full_txt, llms_txt, markdown_url
from llmrelay.docs_site.openapi_route import openapi_route
from llmrelay.docs_site.render import Rendered, render_page
from llmrelay.protocol.errors import not_found

if TYPE_CHECKING:
    from llmrelay.relay import Relay

ASSETS = Path(__file__).parent / "assets"
HTML = "text/html; charset=utf-8"
MARKDOWN = "text/markdown; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


class Site:
    """The rendered pages, and how a request picks one."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.rendered: dict[str, Rendered] = {
            source: render_page(source, text) for source, text in library.sources.items()
        }

    def view(self, path: str, language: str, explicit: bool) -> View:
        """The page at `/docs/<path>`, or a 404 for no such page."""
        name = path.strip("/") or INDEX
        if explicit:  # `/docs/zh/...`: the translation itself, or nothing
            source = f"zh/{name}" if f"zh/{name}" in self.library.sources else None
        else:
            source = self.library.page_for(name, language)
        if source is None:
            raise not_found(f"/docs/{path}")
        rendered = self.rendered[source]
        return View(
            language=language,
            path=page_url(name),  # the switch leads to the page in the language chosen
            page=name,
            title=rendered.title,
            body=rendered.html,
            markdown_url=markdown_url(source),
            untranslated=language == "zh" and not source.startswith("zh/"),
        )

    def html(self, request: Request, path: str, explicit: bool = False) -> Response:
        switch = request.query_params.get("lang")
        cookie = request.cookies.get(COOKIE)
        language = chosen_language(switch, cookie, request.headers.get("accept-language"))
        if explicit:
            language = "zh"
        view = self.view(path, language, explicit)
        body = page_html(view, self.library.indexes[language])
        headers = {**HEADERS, "vary": "Accept-Language, Cookie"}
        response = Response(body, headers=headers, media_type=HTML)
        if switch in LANGUAGES and switch != cookie:
            response.set_cookie(COOKIE, switch, max_age=COOKIE_MAX_AGE, samesite="lax")
        return response

    def markdown(self, path: str) -> Response:
        source = path.removesuffix(".md")
        text = self.library.sources.get(source)
        if text is None:
            raise not_found(f"/docs/{path}")
        return Response(text, headers=HEADERS, media_type=MARKDOWN)


def docs_routes(relay: Relay) -> list[Route]:
    site = Site(Library())
    stylesheet = (ASSETS / "docs.css").read_bytes()
    index_txt = llms_txt(site.library).encode()
    full_txt = llms_full_txt(site.library).encode()

    async def index(request: Request) -> Response:
        return site.html(request, "")

    async def chinese(request: Request) -> Response:
        path = request.path_params.get("page", "")
        if path.endswith(".md"):
            return site.markdown("zh/" + path)
        return site.html(request, path, explicit=True)

    async def page(request: Request) -> Response:
        path = request.path_params["page"]
        if path.endswith(".md"):
            return site.markdown(path)
        return site.html(request, path)

    async def css(_request: Request) -> Response:
        return Response(stylesheet, headers=HEADERS, media_type="text/css; charset=utf-8")

    async def llms(_request: Request) -> Response:
        return Response(index_txt, headers=HEADERS, media_type=TEXT)

    async def llms_full(_request: Request) -> Response:
        return Response(full_txt, headers=HEADERS, media_type=TEXT)

    return [
        Route("/docs", index, methods=["GET"]),
        Route("/docs/", index, methods=["GET"]),
        Route(STYLESHEET, css, methods=["GET"]),
        Route("/docs/zh/", chinese, methods=["GET"]),
        Route("/docs/zh/{page:path}", chinese, methods=["GET"]),
        Route("/docs/{page:path}", page, methods=["GET"]),
        Route("/llms.txt", llms, methods=["GET"]),
        Route("/llms-full.txt", llms_full, methods=["GET"]),
        openapi_route(relay),
    ]
