// A member's account: its prepaid balance or its budget, spend and limits (GET /v1/account),
// and for a prepaid account a code to redeem (owners and members; viewers only read).
import { account as accountApi, ApiError } from "../api.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { busy, clear, errorAlert, field, fmtDate, fmtUSD, h, loading, toast } from "../ui.js";
import { limitsText, modelsCell } from "./keys.js";

const REDEEMERS = ["owner", "member"];

function stat(label, iconName, value, sub, testid) {
  return h("div", { class: "card stat", dataset: testid ? { testid } : undefined },
    h("div", { class: "stat-label" }, icon(iconName), label),
    h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
}

function stats(a) {
  if (a.mode === "prepaid") {
    return h("div", { class: "stats" },
      stat(t("account.balance"), "wallet", fmtUSD(a.balance_usd), t("account.balance_sub"), "balance"),
      stat(t("account.spend"), "coins", fmtUSD(a.spend_usd), t("account.spend_total")),
      stat(t("account.credits"), "activity", fmtUSD(a.credits_usd), t("account.credits_sub")));
  }
  const period = a.budget_period ? t(`period.${a.budget_period}`) : "";
  return h("div", { class: "stats" },
    stat(t("overview.remaining"), "wallet", a.budget_usd === null ? t("overview.no_limit")
      : fmtUSD(a.budget_remaining_usd), a.budget_usd === null ? ""
      : t("account.of_budget", { budget: fmtUSD(a.budget_usd), period }), "balance"),
    stat(t("account.spend"), "coins", fmtUSD(a.spend_usd), period),
    stat(t("account.resets"), "activity", a.budget_resets_at ? fmtDate(a.budget_resets_at) : "—",
      t("account.resets_sub")));
}

function details(a) {
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("account.limits"))),
    h("div", { class: "card-body" }, h("dl", { class: "kv" },
      h("dt", null, t("route.models")), h("dd", null, modelsCell(a.models)),
      h("dt", null, t("keys.rate_limits")), h("dd", null, limitsText(a)),
      h("dt", null, t("route.keys")), h("dd", null, String(a.keys))),
    h("p", { class: "muted small section" }, t("account.limits_hint"))));
}

function redeemCard(onRedeemed) {
  const code = h("input", { class: "input mono", name: "code", autocomplete: "off", spellcheck: false,
    autocapitalize: "off", placeholder: "llmr-…" });
  const codeField = field(t("account.code"), code, { hint: t("account.code_hint") });
  const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("account.redeem"));
  const form = h("form", { class: "form", novalidate: true }, codeField,
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = code.value.trim();
    codeField.setError(value ? null : t("account.enter_code"));
    if (!value) return;
    busy(submit, async () => {
      try {
        const answer = await accountApi.redeem(value);
        code.value = "";
        toast(t("account.redeemed", { amount: fmtUSD(answer.credit.amount_usd) }));
        onRedeemed(answer.account);
      } catch (e) {
        codeField.setError(e instanceof ApiError ? e.message : String(e));
      }
    });
  });
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, t("account.redeem_title"))),
    h("div", { class: "card-body" }, form));
}

export async function mount(root, { me, signal }) {
  const statsHolder = h("div");
  const rest = h("div", { class: "cols section" });
  clear(root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, me.account),
      h("p", null, t("account.intro")))),
    statsHolder, rest);
  clear(statsHolder, loading());
  const show = (a) => clear(statsHolder, stats(a));
  try {
    const a = await accountApi.show(signal);
    show(a);
    const redeem = a.mode === "prepaid" && REDEEMERS.includes(me.memberRole) ? redeemCard(show) : null;
    clear(rest, details(a), redeem);
  } catch (e) {
    if (e.name === "AbortError") return;
    clear(statsHolder, errorAlert(e, t("account.load_failed")));
  }
}
