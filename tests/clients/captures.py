"""What a CLI sent, kept as pretty JSON for the people who build the relay's doors.

Each client test writes its capture to tests/output/clients/; with LLMRELAY_UPDATE_CAPTURES=1
it also refreshes the committed copy in tests/clients/captured/. Credentials are replaced by
"<redacted>", and the run's temporary directory and the server's port by placeholders.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from tests.mocks.agent_upstream import Recorded

CAPTURED = Path(__file__).parent / "captured"
OUTPUT = Path(__file__).parents[1] / "output" / "clients"
SECRET_HEADER = re.compile(r"authorization|api-key|token|cookie|secret", re.IGNORECASE)


def request_view(request: Recorded) -> dict[str, Any]:
    headers = {
        name: "<redacted>" if SECRET_HEADER.search(name) else value
        for name, value in request.headers.items()
    }
    target = request.path + (f"?{request.query}" if request.query else "")
    return {"method": request.method, "target": target, "headers": headers, "body": request.body}


def request_summary(request: Recorded) -> dict[str, Any]:
    """One line of the session: where it went, for which model, with which tools."""
    body = request.body if isinstance(request.body, dict) else {}
    tools = [t.get("name") or t.get("type") for t in body.get("tools", [])]
    target = request.path + (f"?{request.query}" if request.query else "")
    summary = {"method": request.method, "target": target, "model": body.get("model")}
    return summary | {"stream": body.get("stream"), "tools": tools}


def save_capture(name: str, capture: dict[str, Any], *, secrets: list[str], **placeholders: str):
    """Write `capture` as `name`.json, with each of `secrets` redacted and each placeholder's
    value (a path, a port) replaced by its name in angle brackets."""
    text = json.dumps(capture, indent=2, ensure_ascii=False) + "\n"
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    for placeholder, value in placeholders.items():
        text = text.replace(value, f"<{placeholder}>")
    targets = [OUTPUT]
    if os.environ.get("LLMRELAY_UPDATE_CAPTURES") == "1":
        targets.append(CAPTURED)
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(text)
