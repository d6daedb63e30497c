"""The one shape OpenAI's Embeddings `input` and legacy Completions `prompt` share: a string,
an array of strings, an array of token ids, or an array of such arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmrelay.protocol.errors import invalid_request, invalid_type


@dataclass(slots=True, frozen=True)
class TextsOrTokens:
    """Texts, or token-id arrays (never both)."""

    texts: tuple[str, ...] = ()
    token_ids: tuple[tuple[int, ...], ...] = ()

    @property
    def count(self) -> int:
        return len(self.texts) or len(self.token_ids)

    @property
    def token_count(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


def texts_or_tokens(body: dict[str, Any], name: str) -> TextsOrTokens:
    """`body[name]` read as texts or token ids; RelayError(400) names the element at fault."""
    value = body.get(name)
    if value is None:
        raise invalid_request(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    if isinstance(value, str):
        return TextsOrTokens(texts=(value,))
    if not isinstance(value, list):
        raise invalid_type(name, "a string or an array", value)
    if not value:
        raise invalid_request(
            f"Invalid '{name}': empty array. Expected an array with minimum length 1.",
            param=name,
            code="empty_array",
        )
    if all(_is_token_id(item) for item in value):
        return TextsOrTokens(token_ids=(tuple(value),))
    if all(isinstance(item, list) for item in value):
        arrays = (_token_ids(ids, f"{name}[{i}]") for i, ids in enumerate(value))
        return TextsOrTokens(token_ids=tuple(arrays))
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise invalid_type(f"{name}[{i}]", "a string", text)
    return TextsOrTokens(texts=tuple(value))


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _token_ids(value: list[Any], param: str) -> tuple[int, ...]:
    if not value or not all(_is_token_id(token) for token in value):
        raise invalid_request(
            f"Invalid '{param}': expected a non-empty array of token ids.",
            param=param,
            code="invalid_value",
        )
    return tuple(value)
