// An invitation link, `#/invite/<token>`: the invited member sets a password and is signed
// in. The token rides in the fragment, which the browser never sends to a server.
import { ApiError, acceptInvite } from "../api.js";
import { languageSwitch, t } from "../i18n.js";
import { logo } from "../icons.js";
import { busy, clear, errorAlert, field, h } from "../ui.js";

const MIN_PASSWORD = 8;

export function mountInvite({ token, onSignedIn }) {
  const password = h("input", { class: "input", type: "password", name: "new-password",
    autocomplete: "new-password", required: true, minLength: MIN_PASSWORD });
  const again = h("input", { class: "input", type: "password", name: "confirm-password",
    autocomplete: "new-password", required: true });
  const passwordField = field(t("invite.password"), password,
    { hint: t("invite.password_hint", { n: MIN_PASSWORD }) });
  const againField = field(t("invite.again"), again);
  const message = h("div", { class: "signin-message", "aria-live": "polite" });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("invite.accept"));
  const form = h("form", { class: "form", novalidate: true }, passwordField, againField, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    const short = password.value.length < MIN_PASSWORD;
    passwordField.setError(short ? t("invite.too_short", { n: MIN_PASSWORD }) : null);
    againField.setError(!short && password.value !== again.value ? t("invite.mismatch") : null);
    if (short || password.value !== again.value) return;
    await busy(submit, async () => {
      try {
        onSignedIn(await acceptInvite(decodeURIComponent(token), password.value));
      } catch (e) {
        const gone = e instanceof ApiError && e.code === "invite_invalid";
        clear(message, errorAlert(e, gone ? t("invite.invalid") : t("invite.failed")));
      }
    });
  });
  queueMicrotask(() => password.focus());

  return h("div", { class: "signin" },
    h("div", { class: "card signin-card" },
      h("div", { class: "signin-top" },
        h("div", { class: "brand" }, logo(), h("div", null, "llmrelay", h("small", null, t("nav.console")))),
        languageSwitch()),
      h("h1", null, t("invite.title")),
      h("p", null, t("invite.intro")),
      message,
      form,
      h("div", { class: "signin-foot" }, h("a", { href: "#/signin" }, t("invite.have_password")))));
}
