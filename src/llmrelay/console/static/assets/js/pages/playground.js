// Playground: chat with any model the key may use; the answer streams in token by token and
// the model's thinking (reasoning_content) is shown apart, in a collapsible block.
import { api } from "../api.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { setParams } from "../router.js";
import { streamChat, streamMessages } from "../sse.js";
import { button, clear, empty, errorAlert, field, fmtInt, fmtMs, h, loading } from "../ui.js";

const LAST_MODEL = "llmrelay.console.playground-model";

export async function mount(root, { me, params, signal }) {
  const modelSelect = h("select", { class: "select", name: "model" });
  const doorSelect = h("select", { class: "select", name: "door" },
    h("option", { value: "chat" }, "Chat Completions (OpenAI)"),
    h("option", { value: "messages" }, "Messages (Anthropic)"));
  const system = h("textarea", { class: "textarea", name: "system", rows: 4,
    placeholder: t("play.system_placeholder") });
  const temperature = h("input", { type: "range", min: "0", max: "2", step: "0.1", value: "0.7",
    name: "temperature" });
  const tempOut = h("output", { for: "pg-temp" }, "0.7");
  temperature.addEventListener("input", () => { tempOut.textContent = temperature.value; });
  const maxTokens = h("input", { class: "input", type: "number", min: "1", step: "1", value: "256",
    name: "max_tokens", inputMode: "numeric" });
  const prompt = h("textarea", { class: "textarea", rows: 1, name: "prompt", id: "pg-prompt",
    placeholder: t("play.placeholder"), title: t("play.enter_hint") });
  const send = h("button", { class: "btn btn-primary", type: "submit" }, icon("send"), t("play.send"));
  const stop = h("button", { class: "btn btn-danger", type: "button", hidden: true }, icon("stop"), t("play.stop"));
  const clearBtn = button(t("play.new_chat"), { iconName: "plus", small: true });
  const messagesEl = h("div", { class: "messages", role: "log", "aria-live": "polite",
    "aria-label": t("play.conversation") });
  const composer = h("form", { class: "composer" },
    h("label", { class: "visually-hidden", for: "pg-prompt" }, t("play.message")), prompt, send, stop);

  const tempRow = h("div", { class: "range-row" }, temperature, tempOut);
  temperature.id = "pg-temp";
  const toggle = h("button", { class: "btn btn-sm btn-ghost settings-toggle", type: "button",
    "aria-expanded": "true", "aria-controls": "pg-settings" }, t("play.hide"));
  const modelLabel = h("span", { class: "muted small mono settings-model" });
  const side = h("aside", { class: "card play-side", "aria-label": t("play.settings") },
    h("div", { class: "card-head" }, h("div", null, h("h2", null, t("play.settings")), modelLabel),
      h("div", { class: "actions" }, toggle, clearBtn)),
    h("div", { class: "card-body", id: "pg-settings" },
      field(t("models.model"), modelSelect, { id: "pg-model" }),
      field(t("play.api"), doorSelect, { id: "pg-door", hint: t("play.door_hint") }),
      field(t("play.system"), system, { id: "pg-system" }),
      h("div", { class: "field" }, h("label", { for: "pg-temp" }, t("play.temperature")), tempRow),
      field(t("play.max_tokens"), maxTokens, { id: "pg-max", hint: t("play.max_hint") }),
      h("p", { class: "hint" }, me.role === "admin" ? t("play.admin_hint") : t("play.customer_hint"))));
  const chat = h("section", { class: "card play-chat", "aria-label": t("play.chat") }, messagesEl, composer);

  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, t("route.playground")), h("p", null, t("play.intro")))),
    h("div", { class: "play" }, chat, side));

  const setCollapsed = (collapsed) => {
    side.classList.toggle("collapsed", collapsed);
    toggle.setAttribute("aria-expanded", String(!collapsed));
    toggle.textContent = collapsed ? t("play.show") : t("play.hide");
  };
  toggle.addEventListener("click", () => setCollapsed(!side.classList.contains("collapsed")));
  setCollapsed(window.matchMedia("(max-width: 1000px)").matches);

  const history = [];
  let controller = null;

  function showWelcome() {
    clear(messagesEl, empty({ iconName: "playground", title: t("play.start"), text: t("play.start_hint") }));
  }

  clear(messagesEl, loading(t("models.loading")));
  try {
    const models = (await api("/v1/models", { signal })).data
      .filter((m) => !m.endpoints || m.endpoints.includes("chat")).map((m) => m.id).sort();
    if (!models.length) {
      clear(messagesEl, empty({ iconName: "models", title: t("models.none"), text: t("play.no_models") }));
      send.disabled = true;
      return () => {};
    }
    for (const m of models) modelSelect.append(h("option", { value: m }, m));
    const wanted = [params.get("model"), localStorage.getItem(LAST_MODEL)].find((m) => m && models.includes(m));
    modelSelect.value = wanted || models[0];
  } catch (e) {
    if (e.name === "AbortError") return () => {};
    clear(messagesEl, h("div", { class: "card-body" }, errorAlert(e, t("models.load_failed"))));
    return () => {};
  }
  modelLabel.textContent = modelSelect.value;
  modelSelect.addEventListener("change", () => {
    modelLabel.textContent = modelSelect.value;
    setParams({ model: modelSelect.value });
    localStorage.setItem(LAST_MODEL, modelSelect.value);
  });
  showWelcome();

  function bubble(role, text) {
    const textEl = h("div", { class: "msg-text" }, text);
    const main = h("div", { class: "msg-main" }, h("div", { class: "msg-role" }, role === "user" ? t("play.you") : modelSelect.value), textEl);
    const el = h("div", { class: `msg ${role}` },
      h("div", { class: "msg-avatar", "aria-hidden": "true" }, role === "user" ? (me.name || "Y").slice(0, 1).toUpperCase() : "AI"), main);
    messagesEl.append(el);
    return { el, main, textEl };
  }

  function scroll() {
    const nearBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 120;
    if (nearBottom) messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  async function submit() {
    const text = prompt.value.trim();
    if (!text || controller) return;
    if (messagesEl.querySelector(".empty")) clear(messagesEl);
    prompt.value = "";
    autosize();
    bubble("user", text);
    history.push({ role: "user", content: text });
    const reply = bubble("assistant", "");
    reply.el.classList.add("streaming");
    reply.el.dataset.testid = "assistant-message";
    messagesEl.scrollTop = messagesEl.scrollHeight;

    let thinking = null;
    let thinkingText = null;
    let answer = "";
    let reasoning = "";
    const started = performance.now();
    let firstToken = null;
    let thinkingEnd = null;
    controller = new AbortController();
    send.hidden = true;
    stop.hidden = false;
    const messages = [];
    if (system.value.trim()) messages.push({ role: "system", content: system.value.trim() });
    messages.push(...history);
    const body = { model: modelSelect.value, messages, temperature: Number(temperature.value) };
    if (maxTokens.value) body.max_tokens = Number(maxTokens.value);
    let result = null;
    let failure = null;
    try {
      const stream = doorSelect.value === "messages" ? streamMessages : streamChat;
      result = await stream({
        body,
        signal: controller.signal,
        onDelta({ content, reasoning: r }) {
          if (firstToken === null) firstToken = performance.now();
          if (r) {
            if (!thinking) {
              thinkingText = h("div", { class: "thinking-text" });
              thinking = h("details", { class: "thinking", open: true },
                h("summary", null, icon("bulb"), h("span", { class: "thinking-label" }, t("play.thinking"))), thinkingText);
              reply.main.insertBefore(thinking, reply.textEl);
            }
            reasoning += r;
            thinkingText.textContent = reasoning;
          }
          if (content) {
            if (thinking && thinkingEnd === null) {
              thinkingEnd = performance.now();
              thinking.open = false;
            }
            answer += content;
            reply.textEl.textContent = answer;
          }
          scroll();
        },
      });
    } catch (e) {
      failure = e;
    }
    const elapsed = performance.now() - started;
    reply.el.classList.remove("streaming");
    reply.textEl.classList.add("ended");
    if (thinking) {
      const secs = (((thinkingEnd ?? performance.now()) - (firstToken ?? started)) / 1000).toFixed(1);
      thinking.querySelector(".thinking-label").textContent = t("play.thought", { secs });
    }
    if (failure && failure.name === "AbortError") {
      reply.main.append(h("div", { class: "msg-meta" }, t("play.stopped")));
    } else if (failure) {
      reply.main.append(errorAlert(failure, t("play.failed")));
    }
    if (answer) history.push({ role: "assistant", content: answer });
    else if (!failure) reply.textEl.append(h("span", { class: "muted" }, t("play.empty")));
    if (result) {
      const u = result.usage;
      const completion = u ? u.completion_tokens : null;
      const genMs = firstToken !== null ? elapsed - (firstToken - started) : null;
      const meta = h("div", { class: "msg-meta", dataset: { testid: "usage" } });
      if (u) {
        meta.append(h("span", null, t("play.prompt_tokens", { n: fmtInt(u.prompt_tokens) })),
          h("span", null, t("play.completion_tokens", { n: fmtInt(u.completion_tokens) })),
          h("span", null, t("play.total_tokens", { n: fmtInt(u.total_tokens) })));
        const details = u.completion_tokens_details;
        if (details && details.reasoning_tokens) meta.append(h("span", null, t("play.reasoning_tokens", { n: fmtInt(details.reasoning_tokens) })));
      }
      if (firstToken !== null) meta.append(h("span", null, t("usage.first_token", { ms: fmtMs(firstToken - started) })));
      if (completion && genMs > 0) meta.append(h("span", null, `${(completion / (genMs / 1000)).toFixed(1)} tok/s`));
      if (result.finishReason === "length") meta.append(h("span", null, t("play.length")));
      if (result.requestId) meta.append(h("span", { class: "mono" }, result.requestId));
      reply.main.append(meta);
    }
    controller = null;
    send.hidden = false;
    stop.hidden = true;
    scroll();
    prompt.focus();
  }

  function autosize() {
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 200)}px`;
  }
  prompt.addEventListener("input", autosize);
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  composer.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  stop.addEventListener("click", () => controller && controller.abort());
  clearBtn.addEventListener("click", () => {
    if (controller) controller.abort();
    history.length = 0;
    showWelcome();
    prompt.focus();
  });
  return () => { if (controller) controller.abort(); };
}
