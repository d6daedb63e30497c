"""A mock Gemini API with the exact wire format, and a tiny image server for URL images.

`MockGemini` answers `POST /v1beta/models/{model}:generateContent` with one
`GenerateContentResponse` and `...:streamGenerateContent?alt=sse` with `data:` frames (no event
names, no `[DONE]`: the stream ends when the connection closes). It checks `x-goog-api-key` as
Google does (none: 403 PERMISSION_DENIED; a wrong one: 400 INVALID_ARGUMENT + API_KEY_INVALID).
The scenario is picked by the model name in the URL; each scenario is written as its stream
frames, and the whole answer is those frames merged, as Gemini's own non-streamed answer is.
Every request is recorded (path, query, headers, body) for field-by-field assertions.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.mocks.server import ThreadedServer

GEMINI_KEY = "AIzaSyMock-gemini-key-0123456789abcdefXYZ"
TEXT_SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS10ZXh0"
CALL_SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1jYWxs"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
Frames = list[dict[str, Any]]


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ImageServer(ThreadedServer):
    """Serves /cat.png, /notes.txt (not an image), /big.png, /slow.png and /redirect?to=."""

    hits: list[str] = field(default_factory=list)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/{name}", self._serve)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        name = request.match_info["name"]
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "slow.png":
            await asyncio.sleep(3)
        if name == "notes.txt":
            return web.Response(body=b"not an image", content_type="text/plain")
        if name in ("cat.png", "slow.png"):
            return web.Response(body=png_bytes(), content_type="image/png")
        if name == "big.png":
            return web.Response(body=png_bytes() + bytes(60_000), content_type="image/png")
        return web.Response(status=404)


# ---- Gemini ---------------------------------------------------------------------------------


def gemini_error(code: int, status: str, message: str, *details: dict) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": [*details]}}


ERRORS = {
    "400": gemini_error(
        400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "x".'
    ),
    "403": gemini_error(403, "PERMISSION_DENIED", f"Consumer 'api_key:{GEMINI_KEY}' suspended."),
    "404": gemini_error(404, "NOT_FOUND", "models/nope is not found for API version v1beta."),
    "429": gemini_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": RETRY_INFO, "retryDelay": "22s"},
    ),
    "500": gemini_error(500, "INTERNAL", f"An internal error has occurred (key {GEMINI_KEY})."),
    "503": gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "504": gemini_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation complete."),
    "too-long": gemini_error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "precondition": gemini_error(
        400, "FAILED_PRECONDITION", "User location is not supported for the API use."
    ),
}
BAD_KEY = gemini_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
)
NO_KEY = gemini_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")


def last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if content["role"] == "user":
            texts = [p["text"] for p in content["parts"] if "text" in p]
            if texts:
                return " ".join(texts)
    return ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    turns = [*body.get("contents", []), body.get("systemInstruction") or {"parts": []}]
    return sum(3 + sum(len(p.get("text", "").split()) for p in t["parts"]) for t in turns)


class Answer:
    """Builds the frames of one answer: candidate parts, a finish, cumulative usage."""

    def __init__(self, body: dict[str, Any], model: str) -> None:
        self.config = body.get("generationConfig") or {}
        self.thinking = bool((self.config.get("thinkingConfig") or {}).get("includeThoughts"))
        self.prompt = _prompt_tokens(body)
        self.model = model
        self.frames: Frames = []
        self.produced = 0

    def frame(self, parts: list[dict], finish: str | None = None, index: int = 0, **extra) -> None:
        self.produced += sum(len(p.get("text", "").split()) for p in parts if not p.get("thought"))
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        if index:
            candidate["index"] = index
        if finish:
            candidate["finishReason"] = finish
        candidate.update(extra)
        usage = {"promptTokenCount": self.prompt, "candidatesTokenCount": self.produced}
        if self.thinking:
            usage["thoughtsTokenCount"] = 7
        usage["cachedContentTokenCount"] = 3
        usage["totalTokenCount"] = self.prompt + self.produced + usage.get("thoughtsTokenCount", 0)
        self.frames.append(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": self.model + "-001",
                "responseId": "mockResponse42",
            }
        )

    def thought(self, text: str) -> None:
        if self.thinking:
            self.frame([{"text": text, "thought": True}])


def _echo(body: dict[str, Any], model: str) -> Frames:
    answer = Answer(body, model)
    text = last_user_text(body)
    answer.thought(f"The user said: {text}")
    words = ["echo:", *text.split()]
    limit = answer.config.get("maxOutputTokens")
    finish = "MAX_TOKENS" if limit and len(words) > limit else "STOP"
    words = words[:limit] if limit else words
    for n in range(answer.config.get("candidateCount") or 1):
        pieces = [words[i : i + 2] for i in range(0, len(words), 2)]
        for k, piece in enumerate(pieces):
            text_piece = (" " if k else "") + " ".join(piece)
            parts: list[dict[str, Any]] = [{"text": text_piece}]
            extra = {}
            if answer.config.get("responseLogprobs"):
                extra["logprobsResult"] = _logprobs(piece)
            last = k == len(pieces) - 1
            if last and answer.thinking:
                parts.append({"text": "", "thoughtSignature": TEXT_SIGNATURE})
            answer.frame(parts, finish if last else None, index=n, **extra)
    return answer.frames


def _logprobs(words: list[str]) -> dict[str, Any]:
    chosen = [{"token": w, "tokenId": i, "logProbability": -0.5} for i, w in enumerate(words)]
    top = [
        {"candidates": [c, {"token": "x", "tokenId": 9, "logProbability": -3.0}]} for c in chosen
    ]
    return {"topCandidates": top, "chosenCandidates": chosen}


def _tools(body: dict[str, Any], model: str) -> Frames:
    answer = Answer(body, model)
    results = [
        p["functionResponse"] for p in body["contents"][-1]["parts"] if "functionResponse" in p
    ]
    if results:
        summary = "; ".join(f"{r['name']}={r['response']['content']}" for r in results)
        answer.frame([{"text": f"results: {summary}"}], "STOP")
        return answer.frames
    answer.thought("I should call the tools.")
    answer.frame([{"text": "Checking."}])
    weather = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    answer.frame([{**weather, "thoughtSignature": CALL_SIGNATURE}])
    time_call = {"id": "fc-7", "name": "get_time", "args": {"tz": "Europe/Paris", "n": [1, 2]}}
    answer.frame([{"functionCall": time_call}], "STOP")
    return answer.frames


def _json(body: dict[str, Any], model: str) -> Frames:
    answer = Answer(body, model)
    answer.frame([{"text": '{"answer": '}])
    answer.frame([{"text": "42}"}], "STOP")
    return answer.frames


def _finish(reason: str) -> Any:
    def scenario(body: dict[str, Any], model: str) -> Frames:
        answer = Answer(body, model)
        if reason in ("STOP", "MAX_TOKENS", "RECITATION"):
            answer.frame([{"text": "partial"}])
        rating = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]
        answer.frame([], reason, safetyRatings=rating, finishMessage=f"Finished: {reason}")
        del answer.frames[-1]["candidates"][0]["content"]
        return answer.frames

    return scenario


def _blocked(body: dict[str, Any], model: str) -> Frames:
    feedback = {"blockReason": "SAFETY", "safetyRatings": []}
    usage = {"promptTokenCount": 5, "totalTokenCount": 5}
    return [{"promptFeedback": feedback, "usageMetadata": usage, "modelVersion": model}]


def _midstream(body: dict[str, Any], model: str) -> Frames:
    answer = Answer(body, model)
    answer.frame([{"text": "partial answer"}])
    return [*answer.frames, ERRORS["503"]]


def _cut(body: dict[str, Any], model: str) -> Frames:
    answer = Answer(body, model)
    answer.frame([{"text": "never"}])
    answer.frame([{"text": " finished"}])
    return answer.frames


def _error(error: dict[str, Any]) -> Any:
    return lambda body, model: [error]


FINISH_REASONS = [
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "LANGUAGE",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "FINISH_REASON_UNSPECIFIED",
]
SCENARIOS = {
    "mock-tools": _tools,
    "mock-json": _json,
    "mock-blocked": _blocked,
    "mock-midstream": _midstream,
    "mock-cut": _cut,
    **{f"mock-finish-{reason}": _finish(reason) for reason in FINISH_REASONS},
    **{f"mock-error-{name}": _error(error) for name, error in ERRORS.items()},
}


def merge_frames(frames: Frames) -> dict[str, Any]:
    """The non-streamed answer: per candidate the parts joined, the last finish and usage."""
    merged: dict[str, Any] = {k: v for k, v in frames[-1].items() if k != "candidates"}
    candidates: dict[int, dict[str, Any]] = {}
    for frame in frames:
        for candidate in frame.get("candidates", []):
            index = candidate.get("index", 0)
            target = candidates.setdefault(index, {"content": {"role": "model", "parts": []}})
            for part in candidate.get("content", {}).get("parts", []):
                _merge_part(target["content"]["parts"], part)
            _merge_logprobs(target, candidate.get("logprobsResult"))
            target.update({k: v for k, v in candidate.items() if k not in KEPT})
            target["index"] = index
    if candidates:
        merged["candidates"] = [candidates[i] for i in sorted(candidates)]
    return merged


KEPT = ("content", "logprobsResult")


def _merge_logprobs(target: dict[str, Any], result: dict[str, Any] | None) -> None:
    if result:
        merged = target.setdefault("logprobsResult", {"topCandidates": [], "chosenCandidates": []})
        for key in ("topCandidates", "chosenCandidates"):
            merged[key] += result[key]


def _merge_part(parts: list[dict[str, Any]], part: dict[str, Any]) -> None:
    previous = parts[-1] if parts else None
    mergeable = previous is not None and "text" in part and "text" in previous
    if mergeable and bool(previous.get("thought")) == bool(part.get("thought")):
        previous["text"] += part["text"]
        if part.get("thoughtSignature"):
            previous["thoughtSignature"] = part["thoughtSignature"]
    else:
        parts.append(dict(part))


@dataclass
class MockGemini(ThreadedServer):
    received: list[Received] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + "/v1beta"

    def last(self) -> Received:
        return self.received[-1]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{target}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(request.path, dict(request.query), headers, body))
        model, _, method = request.match_info["target"].partition(":")
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return _json_reply(NO_KEY, 403)
        if key != GEMINI_KEY:
            return _json_reply(BAD_KEY, 400)
        if method == "batchEmbedContents":
            return _json_reply(_embeddings(body), 200)
        if method not in ("generateContent", "streamGenerateContent"):
            return _json_reply(ERRORS["404"], 404)
        frames = SCENARIOS.get(model, _echo)(body, model)
        if method == "generateContent" or "error" in frames[0]:
            errors = [f for f in frames if "error" in f]
            if errors:
                return _json_reply(errors[0], errors[0]["error"]["code"])
            return _json_reply(merge_frames(frames), 200)
        if request.query.get("alt") != "sse":
            return _json_reply(ERRORS["400"], 400)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for frame in frames:
            await response.write(b"data: " + orjson.dumps(frame) + b"\r\n\r\n")
        return response


def gemini_vector(text: str, dimensions: int = 6) -> list[float]:
    """The mock's embedding of a text: its length, then its position."""
    return [float(len(text)) + j / 4 for j in range(dimensions)]


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """`batchEmbedContents`: `{embeddings: [{values}]}`, in the requests' order."""
    embeddings = []
    for request in body["requests"]:
        text = "".join(part["text"] for part in request["content"]["parts"])
        dimensions = request.get("outputDimensionality") or 6
        embeddings.append({"values": gemini_vector(text, dimensions)})
    return {"embeddings": embeddings}


def _json_reply(payload: dict[str, Any], status: int) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")
