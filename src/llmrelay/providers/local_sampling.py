"""What the local engine does to the model's scores for one token: a request's `logit_bias`
added before sampling, and the raw scores kept for the sampled token's `logprobs`.

Both run inside llama.cpp's sampler chain as a llama-cpp-python logits processor, which sees
the scores of the whole vocabulary, in token-id order, before any other sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.single]


class TokenScores:
    """A logits processor: biases the scores, and remembers the unbiased ones when asked."""

    def __init__(self, n_vocab: int, logit_bias: Mapping[int, float], keep_raw: bool) -> None:
        self.bias: Scores | None = None
        if logit_bias:
            self.bias = np.zeros(n_vocab, dtype=np.single)
            for token, bias in logit_bias.items():
                self.bias[token] = bias
        self.keep_raw = keep_raw
        self.raw: Scores | None = None

    def __call__(self, input_ids: Any, scores: Scores) -> Scores:
        if self.keep_raw:
            self.raw = np.array(scores, dtype=np.single)
        return scores + self.bias if self.bias is not None else scores


def logprob_entry(
    scores: Scores, token: int, top: int, piece: Callable[[int], bytes]
) -> dict[str, Any]:
    """OpenAI's `logprobs.content[]` item for `token`, sampled from `scores` (the model's own
    distribution, before bias and grammar), with the `top` likeliest tokens."""
    peak = float(scores.max())
    logprobs = scores - (peak + float(np.log(np.exp(scores - peak).sum())))
    best: list[int] = []
    if top:
        candidates = np.argpartition(logprobs, -top)[-top:]
        best = sorted(candidates.tolist(), key=lambda t: -logprobs[t])
    return {
        **_token_logprob(token, float(logprobs[token]), piece),
        "top_logprobs": [_token_logprob(t, float(logprobs[t]), piece) for t in best],
    }


def _token_logprob(token: int, logprob: float, piece: Callable[[int], bytes]) -> dict[str, Any]:
    data = piece(token)
    # A token may hold part of a character: its text shows the bytes, `bytes` has them all.
    return {
        "token": data.decode("utf-8", "backslashreplace"),
        "logprob": logprob,
        "bytes": list(data),
    }
