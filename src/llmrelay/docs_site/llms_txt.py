"""`/llms.txt` and `/llms-full.txt` (https://llmstxt.org): the docs for a language model.

`/llms.txt` is the English index (`docs/README.md`, already in the convention's shape: `#`
title, `>` summary, `##` sections of `- [name](url): description`) with each link made the
site path of the page's Markdown, then a section listing the Chinese pages. Links are
site-relative (`/docs/quickstart.md`): the relay cannot know the address a client reached it
by behind a proxy, and a relative path resolves against wherever `/llms.txt` was fetched.
`/llms-full.txt` is every page of the index, then every Chinese page, in one file.
"""

from __future__ import annotations

from llmrelay.docs_site.library import INDEXES, Library, resolve_link

CHINESE_SECTION = "## 中文 (Chinese)"


def markdown_url(source: str) -> str:
    return f"/docs/{source}.md"


def _with_site_links(index_page: str, markdown: str, library: Library) -> str:
    """The index's own lines, each `](page.md)` link replaced by the page's Markdown URL."""
    lines = []
    for line in markdown.splitlines():
        for entry in library.indexes["en"].entries:
            target = resolve_link(index_page, entry.href)
            if target is not None:
                line = line.replace(f"]({entry.href})", f"]({markdown_url(target)})")
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def chinese_pages(library: Library) -> list[str]:
    """The translated pages, in the Chinese index's order."""
    names = [entry.page for entry in library.indexes["zh"].entries]
    return [f"zh/{name}" for name in names if f"zh/{name}" in library.sources]


def llms_txt(library: Library) -> str:
    text = _with_site_links(INDEXES["en"], library.sources[INDEXES["en"]], library)
    titles = {entry.page: entry.title for entry in library.indexes["zh"].entries}
    lines = [CHINESE_SECTION, ""]
    lines.append(f"- [文档首页]({markdown_url(INDEXES['zh'])}): 中文文档的目录")
    for source in chinese_pages(library):
        english = source.removeprefix("zh/")
        lines.append(f"- [{titles[english]}]({markdown_url(source)}): {english} in Chinese")
    return text + "\n" + "\n".join(lines) + "\n"


def llms_full_txt(library: Library) -> str:
    index = library.indexes["en"]
    sources = [entry.page for entry in index.entries] + chinese_pages(library)
    parts = [f"# {index.title}\n\n> {index.summary}\n"]
    for source in dict.fromkeys(sources):
        page = library.sources[source].rstrip()
        parts.append(f"<!-- {markdown_url(source)} -->\n\n{page}\n")
    return "\n---\n\n".join(parts)
