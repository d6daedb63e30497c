"""The project's metadata, as pip and setuptools read it when installing."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.licenses import canonicalize_license_expression

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def test_the_license_is_an_spdx_expression() -> None:
    """A `{text = ...}` table makes setuptools print a deprecation box on every install."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert isinstance(project["license"], str)
    assert canonicalize_license_expression(project["license"]) == project["license"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_docs_pages_and_assets_are_package_data() -> None:
    """The docs site reads its pages from the package (`docs_site/pages`, a link to the
    repository's `docs/`): a wheel carries every page only if package data names it."""
    package = PYPROJECT.parent / "src" / "llmrelay"
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in patterns["llmrelay"] for path in package.glob(pattern)}
    pages = package / "docs_site" / "pages"
    assert pages.resolve() == (PYPROJECT.parent / "docs").resolve()
    needed = [*pages.rglob("*.md"), *(package / "docs_site" / "assets").iterdir()]
    assert len(needed) > 10
    assert [path for path in needed if path not in shipped] == []
