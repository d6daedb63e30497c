""" "Deep thinking": one intent, however the client asked for it.

Clients ask with `reasoning_effort`, with a vendor's own field (`thinking`, `reasoning`,
`enable_thinking`), or with the model-name suffixes relay users know (`-thinking`,
`-nothinking`, `-thinking-<budget>`, `-minimal`/`-low`/`-medium`/`-high`). Providers turn the
intent into their vendor's fields; the relay never needs to know which one answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llmrelay.protocol.errors import invalid_request

EFFORTS = ("minimal", "low", "medium", "high")
EFFORT_ALIASES = {"xhigh": "high", "max": "high"}
"""Newer effort names the budgets table has no row for."""
MAX_BUDGET = 1_000_000
"""No model thinks longer; larger numbers are mistakes (and overflow vendors' int fields)."""
_SUFFIX = re.compile(
    r"^(?P<base>.+?)-(?P<suffix>nothinking|thinking(?:-(?P<budget>\d+))?|"
    r"minimal|low|medium|high)$"
)


@dataclass(slots=True, frozen=True)
class ReasoningIntent:
    enabled: bool
    effort: str | None = None
    budget: int | None = None

    def budget_from(self, budgets: Any, fallback_effort: str = "medium") -> int:
        """The token budget: explicit, else the configured one for the effort."""
        if self.budget is not None:
            return self.budget
        effort = EFFORT_ALIASES.get(self.effort or "", self.effort) or fallback_effort
        return budgets.for_effort(effort) or budgets.medium


OFF = ReasoningIntent(enabled=False)


def split_model_suffix(model: str) -> tuple[str, ReasoningIntent] | None:
    """`claude-x-thinking-8000` -> (`claude-x`, budget 8000); None when there is no suffix."""
    match = _SUFFIX.match(model)
    if match is None:
        return None
    suffix = match.group("suffix")
    if suffix == "nothinking":
        intent = OFF
    elif suffix.startswith("thinking"):
        budget = match.group("budget")
        if budget and int(budget) > MAX_BUDGET:
            raise invalid_request(
                f"The thinking budget in '{model}' is above {MAX_BUDGET} tokens.",
                param="model",
                code="invalid_value",
            )
        intent = ReasoningIntent(True, budget=int(budget) if budget else None)
    else:
        intent = ReasoningIntent(True, effort=suffix)
    return match.group("base"), intent


def _effort(value: Any, param: str) -> ReasoningIntent | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_request(
            f"Invalid type for '{param}': expected a string.", param=param, code="invalid_type"
        )
    if value in ("none", "disabled", "off"):
        return OFF
    return ReasoningIntent(True, effort=value)


def _budget(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BUDGET:
        raise invalid_request(
            f"Invalid '{param}': expected an integer from 0 to {MAX_BUDGET}.",
            param=param,
            code="invalid_value",
        )
    return value


def _from_thinking(thinking: Any) -> ReasoningIntent | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise invalid_request(
            "Invalid type for 'thinking': expected an object.",
            param="thinking",
            code="invalid_type",
        )
    kind = thinking.get("type")
    if kind == "disabled":
        return OFF
    budget = _budget(thinking.get("budget_tokens"), "thinking.budget_tokens")
    return ReasoningIntent(True, budget=budget)


def _from_reasoning(reasoning: Any) -> ReasoningIntent | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise invalid_request(
            "Invalid type for 'reasoning': expected an object.",
            param="reasoning",
            code="invalid_type",
        )
    if reasoning.get("enabled") is False:
        return OFF
    budget = _budget(reasoning.get("max_tokens"), "reasoning.max_tokens")
    effort = _effort(reasoning.get("effort"), "reasoning.effort")
    if effort is not None and not effort.enabled:
        return OFF
    return ReasoningIntent(True, effort=effort.effort if effort else None, budget=budget)


def intent_from_body(body: dict[str, Any]) -> ReasoningIntent | None:
    """What the request's own fields ask for (None: nothing said, the model's default)."""
    for found in (
        _from_thinking(body.get("thinking")),
        _from_reasoning(body.get("reasoning")),
        _effort(body.get("reasoning_effort"), "reasoning_effort"),
    ):
        if found is not None:
            return found
    enable = body.get("enable_thinking")
    if isinstance(enable, bool):
        budget = _budget(body.get("thinking_budget"), "thinking_budget")
        return ReasoningIntent(True, budget=budget) if enable else OFF
    return None
