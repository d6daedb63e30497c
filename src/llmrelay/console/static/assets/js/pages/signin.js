// Sign in with the admin key (the whole console) or an API key (that key's own view).
import { identify, session } from "../api.js";
import { icon, logo } from "../icons.js";
import { alertBox, busy, clear, errorAlert, field, h } from "../ui.js";

export function mountSignIn({ notice, onSignedIn }) {
  const input = h("input", {
    class: "input secret", type: "password", name: "key", autocomplete: "current-password",
    placeholder: "sk-…", required: true, spellcheck: false, autocapitalize: "off",
  });
  const reveal = h("button", { class: "btn btn-icon", type: "button", "aria-label": "Show key",
    "aria-pressed": "false", title: "Show key" }, icon("eye"));
  reveal.addEventListener("click", () => {
    const shown = input.type === "text";
    input.type = shown ? "password" : "text";
    reveal.setAttribute("aria-pressed", String(!shown));
    reveal.setAttribute("aria-label", shown ? "Show key" : "Hide key");
  });
  const keyField = field("API key or admin key", input, {
    hint: "The key stays in this browser tab only and is forgotten when you sign out.",
  });
  // The reveal button sits beside the input.
  keyField.replaceChild(h("div", { class: "input-group" }, input, reveal), keyField.children[1]);
  const message = h("div", { "aria-live": "polite" });
  if (notice) message.append(alertBox("info", notice));
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, "Sign in");

  const form = h("form", { class: "form", novalidate: true }, message, keyField, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    clear(message);
    if (!key) {
      keyField.setError("Enter a key to sign in.");
      input.focus();
      return;
    }
    keyField.setError(null);
    await busy(submit, async () => {
      try {
        const me = await identify(key);
        session.set(me);
        onSignedIn(me);
      } catch (e) {
        const title = e.status === 401 ? "That key was not accepted" : "Could not sign in";
        clear(message, errorAlert(e, title));
        keyField.setError(" ");
        input.select();
      }
    });
  });
  queueMicrotask(() => input.focus());

  return h("div", { class: "signin" },
    h("div", { class: "card signin-card" },
      h("div", { class: "brand" }, logo(), h("div", null, "llmrelay", h("small", null, "Console"))),
      h("h1", null, "Sign in"),
      h("p", null, "Use the admin key to manage keys, models and usage, or an API key to see its own budget and usage."),
      form,
      h("div", { class: "signin-foot" },
        "The admin key is printed once when the relay first starts (or set with ",
        h("code", null, "LLMRELAY_ADMIN_KEY"), ").")));
}
