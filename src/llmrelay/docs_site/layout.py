"""The HTML around a rendered page: the navigation (every page of the index, in the reader's
language), the language switch, and one local stylesheet. No script, nothing from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from llmrelay.docs_site.language import HTML_LANG, LANGUAGE_NAMES, LANGUAGES, STRINGS
from llmrelay.docs_site.library import Index

STYLESHEET = "/docs/assets/docs.css"


@dataclass(frozen=True, slots=True)
class View:
    """One page as a reader sees it."""

    language: str
    """The navigation's language."""
    path: str
    """The page's address on the site (the language switch links back to it)."""
    page: str
    """The English page's name the navigation marks as current (`README` for the index)."""
    title: str
    body: str
    markdown_url: str
    untranslated: bool = False
    """A Chinese reader sees the English page: it has no translation yet."""


def _nav(index: Index, current: str) -> str:
    parts = []
    for section in index.sections:
        items = []
        for entry in section.entries:
            mark = ' aria-current="page"' if entry.page == current else ""
            items.append(
                f'<li><a href="/docs/{escape(entry.page)}"{mark}>{escape(entry.title)}</a></li>'
            )
        parts.append(f"<h2>{escape(section.title)}</h2><ul>{''.join(items)}</ul>")
    return "".join(parts)


def _switch(view: View) -> str:
    links = []
    for language in LANGUAGES:
        name = LANGUAGE_NAMES[language]
        if language == view.language:
            links.append(f'<strong lang="{HTML_LANG[language]}">{name}</strong>')
        else:
            href = escape(f"{view.path}?lang={language}")
            attributes = f'href="{href}" lang="{HTML_LANG[language]}" hreflang="{language}"'
            links.append(f"<a {attributes}>{name}</a>")
    label = STRINGS[view.language]["language"]
    return f'<p class="switch" aria-label="{label}">{" · ".join(links)}</p>'


def page_html(view: View, index: Index) -> str:
    words = STRINGS[view.language]
    note = f'<p class="note">{words["untranslated"]}</p>' if view.untranslated else ""
    return f"""<!doctype html>
<html lang="{HTML_LANG[view.language]}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(view.title)} · {words["site"]}</title>
<link rel="stylesheet" href="{STYLESHEET}">
<link rel="alternate" type="text/markdown" href="{escape(view.markdown_url)}">
</head>
<body>
<a class="skip" href="#page">{words["skip"]}</a>
<header><a class="home" href="/docs/">{words["site"]}</a>{_switch(view)}</header>
<div class="columns">
<nav aria-label="{words["menu"]}"><details open><summary>{words["menu"]}</summary>
<ul><li><a href="/docs/"{' aria-current="page"' if view.page == "README" else ""}>{words["home"]}</a></li></ul>
{_nav(index, view.page)}
</details></nav>
<main id="page">{note}{view.body}
<footer><a href="{escape(view.markdown_url)}">{words["markdown"]}</a> ·
<a href="/llms.txt">{words["index_for_llms"]}</a> · <a href="/openapi.json">{words["api"]}</a></footer>
</main>
</div>
</body>
</html>
"""  # noqa: E501
