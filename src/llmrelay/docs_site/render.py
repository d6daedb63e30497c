"""A page's Markdown as HTML, with markdown-it-py (CommonMark, plus GitHub's tables).

Two things GitHub does that the site must do alike, so that one Markdown file reads the same
in both places: headings get GitHub's anchor ids (`deploy.md#reload-and-drain` lands), and a
link to another page (`errors.md`, `../chat.md`) goes to that page on the site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from llmrelay.docs_site.library import page_url, resolve_link

_NOT_IN_SLUG = re.compile(r"[^\w\- ]", re.UNICODE)


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens."""
    return _NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def _plain(inline: Token) -> str:
    return "".join(
        child.content for child in inline.children or () if child.type in ("text", "code_inline")
    )


def _anchor_headings(tokens: list[Token]) -> None:
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        base = slug(_plain(tokens[i + 1]))
        count = seen.get(base, 0)
        seen[base] = count + 1
        token.attrSet("id", base if count == 0 else f"{base}-{count}")


def _site_links(tokens: list[Token], page: str) -> None:
    for token in tokens:
        for child in token.children or ():
            if child.type != "link_open":
                continue
            href = str(child.attrs.get("href", ""))
            path, hash_, fragment = href.partition("#")
            target = resolve_link(page, path) if path else None
            if target is not None:
                child.attrSet("href", page_url(target) + hash_ + fragment)


def _site_rule(state: StateCore) -> None:
    _anchor_headings(state.tokens)
    _site_links(state.tokens, state.env["page"])


def _markdown() -> MarkdownIt:
    # The pages are the repository's own files: their HTML comments (the "not run by tests"
    # notes) stay comments rather than showing as text.
    markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    markdown.core.ruler.push("llmrelay_site", _site_rule)
    return markdown


MARKDOWN = _markdown()


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    html: str


def render_page(page: str, markdown: str) -> Rendered:
    """`page`'s HTML body and its title (its first heading's text)."""
    env: dict[str, Any] = {"page": page}
    tokens = MARKDOWN.parse(markdown, env)
    title = next(
        (_plain(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"), page
    )
    return Rendered(title, MARKDOWN.renderer.render(tokens, MARKDOWN.options, env))
