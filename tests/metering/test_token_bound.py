"""The prompt bound budgets reserve: never below what a real tokenizer counts, in any script,
and never above a token per UTF-8 byte.

The tokenizers it is held against are real: the relay's own SmolLM2 vocabulary (llama.cpp)
and OpenAI's o200k and cl100k (bpe-openai ships them). Samples are natural text in many
scripts, the shapes that broke characters/4 (CJK, emoji sequences, digits, minified code,
base64), and seeded random mixes of all of them.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable

import bpe_openai
import pytest

from llmrelay.config import BillingConfig
from llmrelay.metering.token_bound import PromptBound
from llmrelay.metering.tokens import TokenCounter

MARGIN = BillingConfig().prompt_margin
MINIFIED_JS = (
    'function t(e,n){if(!e)return null;var r=e.split("/"),o=[];for(var i=0;i<r.length;i++)'
    '{if(r[i]==="..")o.pop();else if(r[i]!==".")o.push(r[i])}return o.join("/")+(n?"?"+n:"")}'
    'window.__cfg={api:"https://x.io/v1",retry:3,t:1e3,keys:["a1","b2"]};'
)
SAMPLES = {
    "english": "The relay reserves the worst case before a request goes upstream, then "
    "settles it to what the vendor billed. Budgets cannot be overspent, however many "
    "requests race: the ledger is the judge.\n",
    "chinese": "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能"
    "相似的方式做出反应的智能机器。该领域的研究包括机器人、语言识别、图像识别、自然语言处理。",
    "japanese": "日本語の文章を書くときには、ひらがな、カタカナ、漢字を組み合わせて使います。"
    "東京は日本の首都であり、コンピューターサイエンスの研究も盛んです。",
    "korean": "대한민국은 동아시아의 한반도 남부에 위치한 민주공화국이다. 서울은 가장 큰 도시이다.",
    "emoji": "😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘😗☺️😚😙🥲😋😛😜🤪😝🤑🤗🤭🤫🤔",
    "emoji_zwj": "👨‍👩‍👧‍👦👩‍❤️‍💋‍👨🏳️‍🌈🧑🏽‍💻👩🏿‍🔬🏴‍☠️🧔🏻‍♂️",
    "flags": "🇺🇸🇬🇧🇯🇵🇨🇳🇩🇪🇫🇷🇮🇹🇧🇷🇮🇳🇰🇷🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "digits": "3141592653589793238462643383279502884197169399375105820974944592307816406",
    "numbers": "Invoice 2024-11-05: 17 items at 3.99, 250 at 12.50, total 3,192.33 (VAT 19%).",
    "minified_js": MINIFIED_JS,
    "python": "def handle(self, request):\n        if not request.ok:\n            "
    "raise HTTPError(request.status)\n        return {'id': request.id, 'items': []}\n",
    "base64": base64.b64encode(bytes(range(256)) * 3).decode(),
    "hex": bytes(range(256)).hex(),
    "camel_case": "getElementById addEventListener XMLHttpRequest encodeURIComponent",
    "spaces": "a" + " " * 37 + "b\n\n\n\t\t\tc" + " " * 5 + ".",
    "russian": "Москва — столица России, город федерального значения.",
    "arabic": "اللغة العربية هي أكثر اللغات السامية تحدثًا.",
    "hindi": "हिन्दी विश्व की एक प्रमुख भाषा है एवं भारत की राजभाषा है।",
    "thai": "ภาษาไทยเป็นภาษาราชการของประเทศไทย",
    "accents": "Ça coûte 5 € à Zürich, señor; naïve façade, Ærøskøbing, Đà Nẵng.",
    "combining": "a\u0301\u0302\u0303e\u0300\u0301o\u0308\u0304",
    "math": "∀x∈ℝ: ∫₀^∞ e^{-x²} dx = √π/2 ≤ ∑ₙ 1/n² ≈ 1.6449",
    "control": "".join(chr(c) for c in range(32)) * 3,
}

PIECES: dict[str, Callable[[random.Random], str]] = {
    "word": lambda r: r.choice(["the", "relay", "budget", "Element", "tokens", "request", "of"]),
    "letters": lambda r: "".join(r.choices(string.ascii_letters, k=r.randint(1, 12))),
    "digits": lambda r: "".join(r.choices(string.digits, k=r.randint(1, 12))),
    "punct": lambda r: "".join(r.choices(string.punctuation, k=r.randint(1, 6))),
    "space": lambda r: r.choice([" ", "  ", "\n", "\t", " " * r.randint(2, 20), "\r\n"]),
    "cjk": lambda r: "".join(chr(r.randint(0x4E00, 0x9FFF)) for _ in range(r.randint(1, 8))),
    "cjk_ext_b": lambda r: chr(r.randint(0x20000, 0x2A6DF)),
    "kana": lambda r: "".join(chr(r.randint(0x3041, 0x30FA)) for _ in range(r.randint(1, 8))),
    "hangul": lambda r: "".join(chr(r.randint(0xAC00, 0xD7A3)) for _ in range(r.randint(1, 6))),
    "emoji": lambda r: chr(r.randint(0x1F300, 0x1FAFF)),
    "zwj": lambda r: "\u200d".join(r.choice("👨👩👧👦❤💋🧑💻🔬") for _ in range(r.randint(2, 4))),
    "flag": lambda r: chr(0x1F1E6 + r.randint(0, 25)) + chr(0x1F1E6 + r.randint(0, 25)),
    "skin": lambda r: r.choice("👍👋🧔") + chr(r.randint(0x1F3FB, 0x1F3FF)),
    "cyrillic": lambda r: "".join(chr(r.randint(0x0430, 0x044F)) for _ in range(r.randint(1, 9))),
    "devanagari": lambda r: "".join(chr(r.randint(0x0905, 0x0939)) for _ in range(4)),
    "combining": lambda r: r.choice("aeo") + chr(r.randint(0x300, 0x36F)),
}


def random_text(rng: random.Random) -> str:
    kinds = rng.sample(sorted(PIECES), rng.randint(1, 5))
    return "".join(PIECES[rng.choice(kinds)](rng) for _ in range(rng.randint(1, 60)))


RANDOM_TEXTS = [random_text(random.Random(seed)) for seed in range(300)]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    loaded = TokenCounter()
    loaded.load()
    assert loaded.problem is None, loaded.problem
    return loaded


@pytest.fixture(scope="module")
def tokenizers(counter: TokenCounter) -> dict[str, Callable[[str], int]]:
    o200k = bpe_openai.get_encoding("o200k_base")
    cl100k = bpe_openai.get_encoding("cl100k_base")
    return {
        "smollm2": counter.count,
        "o200k": lambda text: len(o200k.encode(text)),
        "cl100k": lambda text: len(cl100k.encode(text)),
    }


@pytest.fixture(scope="module")
def bound(counter: TokenCounter) -> PromptBound:
    return PromptBound(counter, margin=MARGIN)


def shortfalls(bound: PromptBound, tokenizers, texts: list[str]) -> list[tuple]:
    """Every (tokenizer, text, its count, the bound) where the bound is below the count."""
    found = []
    for text in texts:
        reserved = bound.text(text)
        for name, count in tokenizers.items():
            if count(text) > reserved:
                found.append((name, text[:40], count(text), reserved))
    return found


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_bound_covers_every_tokenizer_in_every_script(name, bound, tokenizers) -> None:
    text = SAMPLES[name]
    assert not shortfalls(bound, tokenizers, [text, text * 7, " " + text])


def test_the_bound_covers_random_mixes_of_scripts(bound, tokenizers) -> None:
    assert not shortfalls(bound, tokenizers, RANDOM_TEXTS)


def test_at_margin_two_no_word_of_the_vocabulary_costs_openai_more(counter, tokenizers) -> None:
    """The word estimates are the one part of the bound that is not a token per byte. OpenAI's
    pre-tokenizers cut text into such words, so with `prompt_margin: 2` a prompt cannot cost
    more at OpenAI than it reserves: each of the vocabulary's ~31,000 words, after a space,
    against o200k and cl100k. (At the default 1.25, rare words and word stumps the vocabulary
    holds whole, like "bec" of "because", can cost 2 tokens where 1.25 are reserved.)"""
    openai = {name: tokenizers[name] for name in ("o200k", "cl100k")}
    words = sorted(" " + word.decode() for word in counter.whole_words)
    assert not shortfalls(PromptBound(counter, margin=2.0), openai, words)
    assert shortfalls(PromptBound(counter, margin=1.25), openai, [" bec rese hig teac"])


def test_the_bound_is_never_above_a_token_per_byte(bound) -> None:
    for text in [*SAMPLES.values(), *RANDOM_TEXTS]:
        assert bound.text(text) <= len(text.encode()) + 1


def test_english_costs_far_less_than_a_token_per_byte(bound, tokenizers) -> None:
    """The point of the word estimates: a reservation for prose stays near what is billed."""
    text = SAMPLES["english"] * 20
    assert bound.text(text) < 0.6 * len(text.encode())
    assert bound.text(text) < 2.5 * tokenizers["o200k"](text)


def test_without_the_tokenizer_the_bound_still_holds(tokenizers) -> None:
    """No vocabulary, no word estimates: every letter is a token, and the bound is still one."""
    unloaded = PromptBound(TokenCounter(), margin=MARGIN)
    assert not shortfalls(unloaded, tokenizers, [*SAMPLES.values(), *RANDOM_TEXTS[:100]])


def test_a_margin_below_one_cannot_make_a_word_cost_nothing(counter, tokenizers) -> None:
    careless = PromptBound(counter, margin=0.0)
    assert careless.text("the the the the") >= 4
    assert not shortfalls(careless, {"smollm2": counter.count}, [SAMPLES["english"]])


def test_the_tokenizer_loading_late_is_picked_up() -> None:
    counter = TokenCounter()
    bound = PromptBound(counter, margin=MARGIN)
    before = bound.text(SAMPLES["english"])
    counter.load()
    assert bound.text(SAMPLES["english"]) < before


def test_messages_add_their_overhead_and_tool_calls(bound) -> None:
    messages = [
        {"role": "system", "content": SAMPLES["chinese"]},
        {"role": "user", "content": [{"type": "text", "text": SAMPLES["emoji_zwj"]}]},
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "lookup", "arguments": '{"id": 12345}'}}],
        },
    ]
    parts = [SAMPLES["chinese"], SAMPLES["emoji_zwj"], "lookup", '{"id": 12345}']
    assert bound.messages(messages) >= sum(map(bound.text, parts)) + 3 * 3


def test_unpaired_surrogates_are_counted_not_raised(bound) -> None:
    assert bound.text("\ud83d\ude00 and a lone \ud83d") > 0
