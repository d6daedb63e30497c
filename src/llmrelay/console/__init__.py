"""The web console: a single-page app served by the relay itself, every asset local.

`/console` and `/console/` answer `index.html`, in the reader's language (`i18n.py`: the
`llmrelay_lang` cookie, else `Accept-Language`), which the page's scripts then speak;
`/console/assets/<path>` answers the files under `static/assets/`. The files are read once,
when the routes are built, each with a strong ETag; browsers revalidate on every load
(`no-cache`) and get a 304 when nothing changed, so an upgraded relay never serves a stale
mix of old and new modules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from llmrelay.console.i18n import LANGUAGES, Strings, language_from
from llmrelay.protocol.errors import not_found

STATIC = Path(__file__).parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}

# Everything the page loads comes from the relay itself; API calls go to the same origin.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


VARY = {"vary": "Accept-Language, Cookie"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    vary: dict[str, str] | None = None

    def response(self, request: Request) -> Response:
        headers = {"etag": self.etag, "cache-control": "no-cache", **SECURITY_HEADERS}
        headers.update(self.vary or {})
        if self.etag in _etags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            headers["content-length"] = str(len(self.body))
            return Response(status_code=200, headers=headers, media_type=self.content_type)
        return Response(self.body, headers=headers, media_type=self.content_type)


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def load_assets(root: Path = STATIC) -> dict[str, Asset]:
    """Every servable file under `root`, keyed by its path relative to it (posix)."""
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or content_type is None:
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[path.relative_to(root).as_posix()] = Asset(body, content_type, etag)
    return assets


def localised_index(index: Asset) -> dict[str, Asset]:
    """`index.html` in each language: its `lang` (the scripts read it) and its text."""
    pages = {}
    for language in LANGUAGES:
        t = Strings(language)
        html = index.body.decode()
        html = html.replace('lang="en"', f'lang="{language}"')
        html = html.replace("{title}", escape(t("console.title")))
        html = html.replace("{noscript}", escape(t("console.noscript")))
        body = html.encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        pages[language] = Asset(body, index.content_type, etag, VARY)
    return pages


def console_routes() -> list[Route | Mount]:
    assets = load_assets()
    index = localised_index(assets["index.html"])

    async def page(request: Request) -> Response:
        language = language_from(request.cookies, request.headers.get("accept-language"))
        return index[language].response(request)

    async def asset(request: Request) -> Response:
        path = request.path_params["path"]
        found = assets.get("assets/" + path)
        if found is None:
            raise not_found(request.url.path)
        return found.response(request)

    methods = ["GET", "HEAD"]
    return [
        Route("/console", page, methods=methods),
        Route("/console/", page, methods=methods),
        Route("/console/assets/{path:path}", asset, methods=methods),
    ]
