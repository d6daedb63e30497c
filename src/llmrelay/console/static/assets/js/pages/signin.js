// Sign in with the admin key (the whole console) or an API key (that key's own view).
import { identify, session } from "../api.js";
import { languageSwitch, t } from "../i18n.js";
import { icon, logo } from "../icons.js";
import { alertBox, busy, clear, errorAlert, field, fill, h } from "../ui.js";

export function mountSignIn({ notice, onSignedIn }) {
  const input = h("input", {
    class: "input secret", type: "password", name: "key", autocomplete: "current-password",
    placeholder: "sk-…", required: true, spellcheck: false, autocapitalize: "off",
  });
  const reveal = h("button", { class: "btn btn-icon", type: "button", "aria-label": t("signin.show_key"),
    "aria-pressed": "false", title: t("signin.show_key") }, icon("eye"));
  reveal.addEventListener("click", () => {
    const shown = input.type === "text";
    input.type = shown ? "password" : "text";
    reveal.setAttribute("aria-pressed", String(!shown));
    reveal.setAttribute("aria-label", shown ? t("signin.show_key") : t("signin.hide_key"));
  });
  const keyField = field(t("signin.key_label"), input, { hint: t("signin.key_hint") });
  // The reveal button sits beside the input.
  keyField.replaceChild(h("div", { class: "input-group" }, input, reveal), keyField.children[1]);
  const message = h("div", { "aria-live": "polite" });
  if (notice) message.append(alertBox("info", notice));
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("signin.title"));

  const form = h("form", { class: "form", novalidate: true }, message, keyField, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    clear(message);
    if (!key) {
      keyField.setError(t("signin.enter_key"));
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
        const title = e.status === 401 ? t("signin.refused") : t("signin.failed");
        clear(message, errorAlert(e, title));
        keyField.setError(" ");
        input.select();
      }
    });
  });
  queueMicrotask(() => input.focus());

  return h("div", { class: "signin" },
    h("div", { class: "card signin-card" },
      h("div", { class: "signin-top" },
        h("div", { class: "brand" }, logo(), h("div", null, "llmrelay", h("small", null, t("nav.console")))),
        languageSwitch()),
      h("h1", null, t("signin.title")),
      h("p", null, t("signin.intro")),
      form,
      h("div", { class: "signin-foot" },
        fill(t("signin.foot"), { var: h("code", null, "LLMRELAY_ADMIN_KEY") }))));
}
