"""The pages: Markdown files read once from the package, and their index.

The pages live in the repository's `docs/` (where GitHub shows them, and where code comments
cite them); `docs_site/pages` is a link to that folder, so an editable install reads them in
place and a built wheel carries copies (pyproject's package data). Each language's index is
a `README.md` in the llms.txt convention (a title, a `>` summary, then `##` sections of
`- [title](page.md): description` lines): GitHub shows it when browsing the folder, the site
builds its navigation from it, and `/llms.txt` is it with the links made site paths.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

PAGES = Path(__file__).parent / "pages"
INDEX = "README"
INDEXES = {"en": INDEX, "zh": "zh/README"}
"""Each language's index page; a Chinese page is `zh/<page>.md`, beside no other folder."""


@dataclass(frozen=True, slots=True)
class Entry:
    page: str
    """The English page's name (`quickstart`), whatever the index's language."""
    title: str
    href: str
    """The link as the index writes it (`quickstart.md`, `../messages.md`)."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Index:
    title: str
    summary: str
    sections: tuple[Section, ...]

    @property
    def entries(self) -> list[Entry]:
        return [entry for section in self.sections for entry in section.entries]


def resolve_link(page: str, href: str) -> str | None:
    """The page a relative link from `page` names (`zh/chat` + `../errors.md` -> `errors`),
    or None for a link that names no page (a URL, an anchor, a file outside the pages)."""
    if not href.endswith(".md") or "://" in href or href.startswith(("/", "#", "mailto:")):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href[: -len(".md")]))
    return None if target.startswith("..") else target


def page_url(source: str) -> str:
    """Where the site serves a page as HTML (`zh/README` -> `/docs/zh/`)."""
    if source == INDEX or source.endswith("/" + INDEX):
        return "/docs/" + source[: -len(INDEX)]
    return "/docs/" + source


def _text(inline: Token, start: int, stop: int) -> str:
    children = (inline.children or [])[start:stop]
    return "".join(c.content for c in children if c.type in ("text", "code_inline"))


def _entry(index_page: str, inline: Token) -> Entry | None:
    children = inline.children or []
    opening = next((i for i, c in enumerate(children) if c.type == "link_open"), None)
    if opening is None:
        return None
    closing = next(i for i in range(opening, len(children)) if children[i].type == "link_close")
    href = str(children[opening].attrs.get("href", ""))
    target = resolve_link(index_page, href)
    if target is None:
        return None
    return Entry(target.removeprefix("zh/"), _text(inline, opening + 1, closing), href)


def parse_index(index_page: str, markdown: str) -> Index:
    """The index's title, summary and sections, read from markdown-it's tokens."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    title, summary = "", ""
    sections: list[tuple[str, list[Entry]]] = []
    in_quote = False
    for i, token in enumerate(tokens):
        if token.type == "blockquote_open":
            in_quote = True
        elif token.type == "blockquote_close":
            in_quote = False
        elif token.type != "inline":
            continue
        elif tokens[i - 1].type == "heading_open" and tokens[i - 1].tag == "h1":
            title = token.content
        elif tokens[i - 1].type == "heading_open" and tokens[i - 1].tag == "h2":
            sections.append((token.content, []))
        elif in_quote and not summary:
            summary = token.content
        elif sections and (entry := _entry(index_page, token)) is not None:
            sections[-1][1].append(entry)
    return Index(title, summary, tuple(Section(t, tuple(e)) for t, e in sections))


def read_pages(root: Path = PAGES) -> dict[str, str]:
    """Every page's Markdown by name (`quickstart`, `zh/quickstart`, `README`)."""
    return {
        path.relative_to(root).with_suffix("").as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.md"))
    }


class Library:
    """The pages and both indexes, read once when the routes are built."""

    def __init__(self, root: Path = PAGES) -> None:
        self.sources = read_pages(root)
        self.indexes = {
            language: parse_index(name, self.sources[name]) for language, name in INDEXES.items()
        }

    def page_for(self, name: str, language: str) -> str | None:
        """The source to show for page `name` in `language`: its translation when there is
        one, else the English page; None for no such page."""
        if name not in self.sources or name.startswith("zh/"):
            return None
        translated = f"zh/{name}"
        if language == "zh" and translated in self.sources:
            return translated
        return name
