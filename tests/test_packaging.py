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
