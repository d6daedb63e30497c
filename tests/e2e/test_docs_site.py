"""The docs site, as a browser and a language model read it from a running relay: every page
renders, every link resolves, the Markdown is the repository's, the reader's language is
chosen from `Accept-Language` unless a remembered choice says otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from llmrelay.docs_site.language import HTML_LANG, STRINGS
from tests.conftest import RunningRelay

DOCS = Path(__file__).parents[2] / "docs"
SOURCES = sorted(p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md"))
LINK = re.compile(r"\]\((?P<url>/[^)\s]+)\)")
HREF = re.compile(r'href="(?P<url>/[^"]*)"')
ID = re.compile(r'id="(?P<id>[^"]+)"')


@pytest.fixture(scope="module")
def site(relay: RunningRelay) -> Iterator[httpx.Client]:
    """No key: the docs are public."""
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        yield client


def html_url(source: str) -> str:
    return "/docs/" + source.removesuffix("README")


def test_llms_txt_follows_the_convention_and_every_link_resolves(site: httpx.Client) -> None:
    answer = site.get("/llms.txt")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    lines = answer.text.splitlines()
    assert lines[0] == "# llmrelay" and lines[2].startswith("> ")
    links = LINK.findall(answer.text)
    listed = {url.removeprefix("/docs/").removesuffix(".md") for url in links}
    assert listed == set(SOURCES) - {"README"}, "every page but the index, which this is"
    for line in (line for line in lines if line.startswith("- [")):
        assert re.fullmatch(r"- \[[^\]]+\]\(/docs/[\w/-]+\.md\): \S.*", line), line
    for url in links:
        page = site.get(url)
        assert page.status_code == 200, url
        assert page.headers["content-type"] == "text/markdown; charset=utf-8", url


def test_llms_full_txt_holds_every_page(site: httpx.Client) -> None:
    answer = site.get("/llms-full.txt")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    for source in SOURCES:
        if not source.endswith("README"):
            assert (DOCS / f"{source}.md").read_text().strip() in answer.text, source


@pytest.mark.parametrize("source", SOURCES)
def test_every_page_renders_and_its_markdown_is_the_file(site: httpx.Client, source: str) -> None:
    page = site.get(html_url(source), headers={"accept-language": "en"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<nav" in page.text and "<main" in page.text
    assert 'name="viewport"' in page.text
    assert not re.search(r'(src="|<link[^>]+href=")(https?:)?//', page.text), "local assets only"
    raw = site.get(f"/docs/{source}.md")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "text/markdown; charset=utf-8"
    assert raw.content == (DOCS / f"{source}.md").read_bytes()


def test_every_link_on_every_page_lands(site: httpx.Client) -> None:
    """Links between pages (`errors.md#types`) become site links, and their anchors exist."""
    ids: dict[str, set[str]] = {}
    for source in SOURCES:
        for language in ("en", "zh"):
            text = site.get(html_url(source), headers={"accept-language": language}).text
            for url in HREF.findall(text):
                path, _, anchor = url.partition("#")
                path = urlsplit(path).path
                if path not in ids:
                    target = site.get(path)
                    assert target.status_code == 200, f"{source} links to {url}"
                    ids[path] = set(ID.findall(target.text))
                assert not anchor or anchor in ids[path], f"{source} links to {url}"


def test_the_stylesheet_is_served(site: httpx.Client) -> None:
    css = site.get("/docs/assets/docs.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_chinese_reader_gets_the_chinese_navigation(site: httpx.Client) -> None:
    chinese = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}
    translated = site.get("/docs/quickstart", headers=chinese)
    assert '<html lang="zh-Hans">' in translated.text
    assert STRINGS["zh"]["home"] in translated.text and "快速开始</h1>" in translated.text
    assert "Accept-Language" in translated.headers["vary"]
    english_only = site.get("/docs/errors", headers=chinese)
    assert STRINGS["zh"]["untranslated"] in english_only.text
    assert ">Errors</h1>" in english_only.text and "错误码</a>" in english_only.text
    english = site.get("/docs/quickstart", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and ">Quickstart</h1>" in english.text


@pytest.mark.parametrize(
    ("cookie", "header", "chosen"), [("en", "zh-CN", "en"), ("zh", "en", "zh")]
)
def test_the_remembered_choice_wins_over_the_header(
    relay: RunningRelay, cookie: str, header: str, chosen: str
) -> None:
    with httpx.Client(base_url=relay.url, cookies={"llmrelay_lang": cookie}) as browser:
        answer = browser.get("/docs/chat", headers={"accept-language": header})
    assert f'<html lang="{HTML_LANG[chosen]}">' in answer.text
    assert STRINGS[chosen]["home"] in answer.text


def test_the_switch_is_remembered_in_a_cookie(relay: RunningRelay) -> None:
    with httpx.Client(base_url=relay.url, timeout=10) as browser:
        switched = browser.get("/docs/models?lang=zh", headers={"accept-language": "en"})
        assert '<html lang="zh-Hans">' in switched.text
        assert browser.cookies.get("llmrelay_lang") == "zh"
        assert "SameSite=lax" in switched.headers["set-cookie"]
        later = browser.get("/docs/keys", headers={"accept-language": "en"})
        assert '<html lang="zh-Hans">' in later.text
        assert 'href="/docs/keys?lang=en"' in later.text


def test_an_explicit_chinese_page_and_unknown_pages(site: httpx.Client) -> None:
    explicit = site.get("/docs/zh/quickstart", headers={"accept-language": "en"}).text
    assert "快速开始</h1>" in explicit
    assert 'href="/docs/quickstart?lang=en"' in explicit, "the switch leaves the translation"
    assert site.get("/docs/zh/").status_code == 200
    for path in ("/docs/nope", "/docs/nope.md", "/docs/zh/errors", "/docs/../README.md"):
        missing = site.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "unknown_url"


def test_every_string_is_in_both_languages() -> None:
    assert STRINGS["en"].keys() == STRINGS["zh"].keys()
    assert all(value.strip() for strings in STRINGS.values() for value in strings.values())
