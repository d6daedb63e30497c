// The model catalogue (/models), rendered by the relay: this adds the copy buttons, the filter
// and, when the catalogue is private, the sign-in that asks for the page again with the key
// (kept for this tab only, as the console keeps its own).
import { t, tn } from "./i18n.js";
import { copyText } from "./ui.js";

const KEY = "llmrelay.catalogue.key";
const CONSOLE_SESSION = "llmrelay.console.session";

function main() {
  return document.getElementById("catalogue");
}

function enableCopy(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    const label = button.textContent;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const ok = await copyText(source.textContent);
      button.textContent = ok ? t("common.copied") : t("common.press_ctrl_c");
      setTimeout(() => { button.textContent = label; }, 1800);
    });
  }
}

function enableFilter(root) {
  const input = root.querySelector(".cat-filter");
  if (!input) return;
  const cards = [...root.querySelectorAll("article.model")];
  const count = root.querySelector(".cat-count");
  const none = root.querySelector("[data-no-match]");
  input.hidden = false;
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    let shown = 0;
    for (const card of cards) {
      card.hidden = Boolean(q) && !card.dataset.search.includes(q);
      if (!card.hidden) shown += 1;
    }
    count.textContent = tn("models.count", shown);
    none.hidden = shown > 0 || !cards.length;
  });
}

/** The key this tab signed in with, here or in the console. */
function rememberedKey() {
  const own = sessionStorage.getItem(KEY);
  if (own) return own;
  try {
    return (JSON.parse(sessionStorage.getItem(CONSOLE_SESSION) || "null") || {}).key || null;
  } catch {
    return null;
  }
}

async function refusal(response) {
  try {
    return (await response.json()).error.message;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function showRefusal(form, message) {
  const box = form.querySelector("[data-message]");
  const alert = document.createElement("div");
  alert.className = "alert error";
  alert.setAttribute("role", "alert");
  const body = document.createElement("div");
  body.className = "alert-body";
  const title = document.createElement("strong");
  title.textContent = t("cat.refused");
  const text = document.createElement("span");
  text.textContent = message;
  body.append(title, text);
  alert.append(body);
  box.replaceChildren(alert);
}

async function signIn(form, key) {
  let response;
  try {
    response = await fetch(location.pathname + location.search,
      { headers: { authorization: `Bearer ${key}`, accept: "text/html" } });
  } catch {
    showRefusal(form, t("api.unreachable"));
    return;
  }
  if (!response.ok) {
    sessionStorage.removeItem(KEY);
    showRefusal(form, await refusal(response));
    return;
  }
  sessionStorage.setItem(KEY, key);
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  main().replaceChildren(...page.getElementById("catalogue").childNodes);
  document.body.classList.remove("private");
  start();
}

function start() {
  const root = main();
  const form = root.querySelector("form[data-signin]");
  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = form.querySelector("input").value.trim();
      if (key) signIn(form, key);
    });
    const key = rememberedKey();
    if (key) signIn(form, key);
    return;
  }
  enableCopy(root);
  enableFilter(root);
}

start();
