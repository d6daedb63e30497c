"""Tool-use ids as Anthropic takes them."""

from __future__ import annotations

import re
from typing import Any

_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize_tool_id(value: Any) -> str:
    """A tool-use id Anthropic's pattern `^[a-zA-Z0-9_-]+$` accepts, the same every time for
    the same id (so a call and its result still match)."""
    text = value if isinstance(value, str) else ""
    return _NOT_ALLOWED.sub("_", text) or "toolu_missing"
