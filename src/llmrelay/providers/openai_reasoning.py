"""Reasoning on OpenAI-compatible servers: each family spells "think" its own way.

A request's own fields (`reasoning_effort`, `thinking`, `enable_thinking`...) pass through
untouched; only an intent that came from a model-name suffix is written out here, in the
spelling of the server's `reasoning_style`. Answers are normalised the other way: vLLM's and
OpenRouter's `reasoning` also appears as `reasoning_content`, the field most clients read.
"""

from __future__ import annotations

from typing import Any

from llmrelay.protocol.reasoning import ReasoningIntent


def _openai(body: dict[str, Any], intent: ReasoningIntent) -> None:
    body["reasoning_effort"] = (intent.effort or "medium") if intent.enabled else "none"


def _deepseek(body: dict[str, Any], intent: ReasoningIntent) -> None:
    body["thinking"] = {"type": "enabled" if intent.enabled else "disabled"}
    if intent.enabled and intent.effort:
        body["reasoning_effort"] = intent.effort


def _qwen(body: dict[str, Any], intent: ReasoningIntent) -> None:
    body["enable_thinking"] = intent.enabled
    if intent.enabled and intent.budget is not None:
        body["thinking_budget"] = intent.budget


def _vllm(body: dict[str, Any], intent: ReasoningIntent) -> None:
    kwargs = dict(body.get("chat_template_kwargs") or {})
    kwargs["enable_thinking"] = intent.enabled
    body["chat_template_kwargs"] = kwargs


STYLES = {"openai": _openai, "deepseek": _deepseek, "qwen": _qwen, "vllm": _vllm}


def apply_reasoning(body: dict[str, Any], intent: ReasoningIntent, style: str) -> None:
    STYLES[style](body, intent)


def normalise_reasoning(fields: dict[str, Any]) -> None:
    """Copy `reasoning` (a string) to `reasoning_content` when the latter is absent."""
    reasoning = fields.get("reasoning")
    if isinstance(reasoning, str) and "reasoning_content" not in fields:
        fields["reasoning_content"] = reasoning
