"""How many tokens a request may use at most, counted before it goes upstream.

Budgets reserve this much and TPM limits count it at admission, so it must not fall short of
what a vendor bills. The prompt's text is bounded by `PromptBound` (a token per UTF-8 byte,
less what every tokenizer merges; see metering/token_bound.py); attachments are counted by
size; the output is `max_tokens` for each of `n` choices plus any thinking budget the request
turns on.
"""

from __future__ import annotations

from typing import Any

from llmrelay.config import BillingConfig, ModelConfig
from llmrelay.metering.token_bound import PromptBound
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import ChatRequest

ATTACHMENT_PARTS = {"file": ("file", "file_data"), "input_audio": ("input_audio", "data")}


class RequestEstimator:
    def __init__(self, tokens: TokenCounter, billing: BillingConfig) -> None:
        self.bound = PromptBound(tokens, billing.prompt_margin)
        self.billing = billing

    def prompt_tokens(self, request: ChatRequest) -> int:
        """The prompt's tokens at most: never less than a vendor bills for it."""
        prompt = self.bound.messages(request.messages)
        prompt += self._parts_tokens(request.messages) + request.prompt_token_ids
        for field in ("tools", "response_format"):
            value = request.body.get(field)
            if value:
                prompt += self.bound.text(str(value))
        return prompt

    def output_cap(self, model: ModelConfig) -> int:
        """The answer's length assumed for a request that sets no `max_tokens`."""
        return model.max_tokens_default or self.billing.default_max_tokens

    def output_tokens(
        self, request: ChatRequest, model: ModelConfig, reasoning: ReasoningIntent | None
    ) -> int:
        if not request.produces_output:
            return 0
        answer = request.max_tokens or self.output_cap(model)
        thinking = _thinking_tokens(request, model, reasoning)
        return (answer + thinking) * request.n * request.output_copies

    def _parts_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Images at a flat rate; files and audio by their size (base64 characters per
        token, `attachment_chars_per_token`), at least the image rate each."""
        billing = self.billing
        total = 0
        for message in messages:
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "image_url":
                    total += billing.image_tokens
                elif kind in ATTACHMENT_PARTS:
                    outer, inner = ATTACHMENT_PARTS[kind]
                    data = (part.get(outer) or {}).get(inner) or ""
                    size = len(data) if isinstance(data, str) else 0
                    total += max(billing.image_tokens, size // billing.attachment_chars_per_token)
        return total


def _thinking_tokens(
    request: ChatRequest, model: ModelConfig, reasoning: ReasoningIntent | None
) -> int:
    """The thinking budget the request turns on (some vendors add it to max_tokens)."""
    native = request.body.get("thinking")
    if isinstance(native, dict):
        budget = native.get("budget_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            return budget
    intent = reasoning or request.reasoning
    if intent is None or not intent.enabled:
        return 0
    return intent.budget_from(model.reasoning_budgets)
