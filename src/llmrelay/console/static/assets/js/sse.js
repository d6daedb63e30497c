// Streaming chat completions: fetch + ReadableStream, parsed as Server-Sent Events.
import { ApiError, errorFrom, session } from "./api.js";
import { t } from "./i18n.js";

/** Yields the `data` of each event of an SSE body (comments such as `: ping` are skipped). */
export async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line[5] === " " ? 6 : 5));
        }
      }
    }
    if (data.length) yield data.join("\n");
  } finally {
    reader.releaseLock();
  }
}

/** POSTs `body` to a door with the session's key; the response, once it is a 2xx. */
async function postStream(path, signal, headers, body) {
  const key = (session.get() || {}).key;
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      signal,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json",
        accept: "text/event-stream", ...headers },
      body: JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, t("api.unreachable"));
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/**
 * POST /v1/chat/completions with `stream: true`; calls onDelta({content, reasoning}) for every
 * piece as it arrives. Resolves {usage, finishReason, requestId, model}; throws ApiError.
 */
export async function streamChat({ body, signal, onDelta, onStart }) {
  const response = await postStream("/v1/chat/completions", signal, {},
    { ...body, stream: true, stream_options: { include_usage: true } });
  const result = { usage: null, finishReason: null, requestId: response.headers.get("x-request-id"),
    model: body.model };
  if (onStart) onStart(result);
  for await (const data of sseData(response.body)) {
    if (data === "[DONE]") break;
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      continue;
    }
    if (chunk.error) {
      throw new ApiError(502, chunk.error.message || t("api.stream_failed"), chunk.error);
    }
    if (chunk.usage) result.usage = chunk.usage;
    if (chunk.model) result.model = chunk.model;
    for (const choice of chunk.choices || []) {
      const delta = choice.delta || {};
      const reasoning = delta.reasoning_content || delta.reasoning || "";
      if (delta.content || reasoning) onDelta({ content: delta.content || "", reasoning });
      if (choice.finish_reason) result.finishReason = choice.finish_reason;
    }
  }
  return result;
}

/** The chat body the playground builds, as an Anthropic Messages request. */
export function messagesBody(body) {
  const system = body.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
  const out = {
    model: body.model,
    max_tokens: body.max_tokens || 1024,
    messages: body.messages.filter((m) => m.role !== "system"),
    temperature: Math.min(body.temperature ?? 1, 1),
    stream: true,
  };
  if (system) out.system = system;
  return out;
}

/**
 * POST /v1/messages (Anthropic's Messages API) with `stream: true`, the same way `streamChat`
 * does the Chat Completions door: onDelta({content, reasoning}) per text or thinking delta;
 * resolves {usage, finishReason, requestId, model} with usage in Chat's terms.
 */
export async function streamMessages({ body, signal, onDelta, onStart }) {
  const response = await postStream("/v1/messages", signal,
    { "anthropic-version": "2023-06-01" }, messagesBody(body));
  const result = { usage: null, finishReason: null, requestId: response.headers.get("x-request-id"),
    model: body.model };
  if (onStart) onStart(result);
  const counts = {};
  for await (const data of sseData(response.body)) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      continue;
    }
    if (event.type === "error") {
      throw new ApiError(502, (event.error || {}).message || t("api.stream_failed"), event.error);
    }
    if (event.type === "message_start" && event.message) Object.assign(counts, event.message.usage);
    if (event.type === "message_delta") {
      Object.assign(counts, event.usage);
      if (event.delta && event.delta.stop_reason) result.finishReason = event.delta.stop_reason;
    }
    if (event.type === "content_block_delta" && event.delta) {
      const { text, thinking } = event.delta;
      if (text || thinking) onDelta({ content: text || "", reasoning: thinking || "" });
    }
  }
  const prompt = (counts.input_tokens || 0) + (counts.cache_read_input_tokens || 0)
    + (counts.cache_creation_input_tokens || 0);
  result.usage = { prompt_tokens: prompt, completion_tokens: counts.output_tokens || 0,
    total_tokens: prompt + (counts.output_tokens || 0) };
  return result;
}
