// Sign in with the admin key (the whole console) or an API key (that key's own view), or as
// an account member with an email and a password (the account's keys, balance and usage).
import { identify, session, signInMember } from "../api.js";
import { languageSwitch, t } from "../i18n.js";
import { icon, logo } from "../icons.js";
import { alertBox, busy, clear, errorAlert, field, fill, h, segmented } from "../ui.js";

const CHOICE = "llmrelay.console.signin";

function keyForm(message, onSignedIn) {
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
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("signin.title"));
  const form = h("form", { class: "form", novalidate: true }, keyField, submit);
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
  form.focusFirst = () => input.focus();
  return form;
}

function memberForm(message, onSignedIn) {
  const email = h("input", { class: "input", type: "email", name: "email", autocomplete: "username",
    required: true, spellcheck: false, autocapitalize: "off" });
  const password = h("input", { class: "input", type: "password", name: "password",
    autocomplete: "current-password", required: true });
  const emailField = field(t("signin.email"), email);
  const passwordField = field(t("signin.password"), password);
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("signin.title"));
  const form = h("form", { class: "form", novalidate: true }, emailField, passwordField, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    emailField.setError(email.value.trim() ? null : t("signin.enter_email"));
    passwordField.setError(password.value ? null : t("signin.enter_password"));
    if (!email.value.trim() || !password.value) return;
    await busy(submit, async () => {
      try {
        onSignedIn(await signInMember(email.value.trim(), password.value));
      } catch (e) {
        const title = e.status === 401 ? t("signin.member_refused") : t("signin.failed");
        clear(message, errorAlert(e, title));
        password.select();
      }
    });
  });
  form.focusFirst = () => email.focus();
  return form;
}

export function mountSignIn({ notice, onSignedIn }) {
  const message = h("div", { class: "signin-message", "aria-live": "polite" });
  const forms = { key: keyForm(message, onSignedIn), member: memberForm(message, onSignedIn) };
  const intro = h("p");
  const foot = h("div", { class: "signin-foot" });
  let choice = sessionStorage.getItem(CHOICE) === "member" ? "member" : "key";
  const holder = h("div");
  function show(which) {
    choice = which;
    sessionStorage.setItem(CHOICE, which);
    clear(message);
    clear(holder, forms[which]);
    intro.textContent = which === "member" ? t("signin.member_intro") : t("signin.intro");
    clear(foot, which === "member" ? t("signin.member_foot")
      : fill(t("signin.foot"), { var: h("code", null, "LLMRELAY_ADMIN_KEY") }));
    queueMicrotask(() => forms[which].focusFirst());
  }
  const switcher = segmented(t("signin.with"), [["key", t("signin.with_key")],
    ["member", t("signin.with_email")]], choice, show);
  switcher.classList.add("signin-switch");
  show(choice);
  if (notice) message.append(alertBox("info", notice));

  return h("div", { class: "signin" },
    h("div", { class: "card signin-card" },
      h("div", { class: "signin-top" },
        h("div", { class: "brand" }, logo(), h("div", null, "llmrelay", h("small", null, t("nav.console")))),
        languageSwitch()),
      h("h1", null, t("signin.title")),
      intro,
      switcher,
      message,
      holder,
      foot));
}
