// An owner's members: who is in the account and with which role; invite someone (the
// one-time link is shown once, to hand over), change a role, remove a member.
import { account as accountApi, ApiError } from "../api.js";
import { t } from "../i18n.js";
import { alertBox, badge, busy, button, clear, confirmDialog, copyButton, empty, errorAlert, field,
  fmtRelative, h, iconButton, openDialog, skeletonRows, toast } from "../ui.js";

const ROLES = ["owner", "member", "viewer"];

function roleSelect(value, label) {
  return h("select", { class: "select", "aria-label": label },
    ROLES.map((r) => h("option", { value: r, selected: r === value }, t(`role.${r}`))));
}

/** The invitation form; resolves with the new member (its link inside), or undefined. */
function inviteDialog() {
  const email = h("input", { class: "input", type: "email", name: "email", autocomplete: "off",
    spellcheck: false, autocapitalize: "off", placeholder: "ada@example.com" });
  const role = roleSelect("member");
  const emailField = field(t("members.email"), email);
  const roleField = field(t("members.role"), role, { hint: t("members.role_hint") });
  const message = h("div");
  const submit = h("button", { class: "btn btn-primary", type: "button" }, t("members.invite"));
  const dialog = openDialog({
    title: t("members.invite_title"),
    description: t("members.invite_description"),
    body: h("form", { class: "form", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit.click(); } },
      message, emailField, roleField, h("button", { type: "submit", hidden: true })),
    footer: (close) => [button(t("common.cancel"), { onClick: () => close(undefined) }), submit],
  });
  submit.addEventListener("click", () => busy(submit, async () => {
    clear(message);
    emailField.setError(email.value.trim() ? null : t("members.enter_email"));
    if (!email.value.trim()) return;
    try {
      dialog.close(await accountApi.members.invite({ email: email.value.trim(), role: role.value }));
    } catch (e) {
      if (e instanceof ApiError && e.param === "email") emailField.setError(e.message);
      else clear(message, errorAlert(e, t("members.invite_failed")));
    }
  }));
  queueMicrotask(() => email.focus());
  return dialog.done;
}

/** The invitation link, shown this once with a copy button. */
function linkDialog(member) {
  const input = h("input", { class: "input mono", readOnly: true, value: member.invite_url,
    id: "invite-link", spellcheck: false });
  input.addEventListener("focus", () => input.select());
  return openDialog({
    title: t("members.link_title"),
    description: member.email,
    body: [
      alertBox("warning", t("members.link_warning"), t("members.link_once")),
      h("div", { class: "field" }, h("label", { for: "invite-link" }, t("members.link")),
        h("div", { class: "input-group" }, input, copyButton(() => member.invite_url))),
    ],
    footer: (close) => button(t("common.done"), { kind: "primary", onClick: () => close(true) }),
  }).done;
}

export async function mount(root, { me, signal }) {
  let all = [];
  const tbody = h("tbody", null, skeletonRows(5));
  const table = h("table", { class: "table responsive", "aria-label": t("route.members") },
    h("thead", null, h("tr", null, [t("members.email"), t("members.role"), t("keys.status"),
      t("members.added"), ""].map((text) =>
      h("th", { scope: "col" }, text || h("span", { class: "visually-hidden" }, t("keys.actions")))))),
    tbody);
  const body = h("div", { class: "table-wrap" }, table);
  clear(root,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, t("route.members")), h("p", null, t("members.intro"))),
      h("div", { class: "actions" }, button(t("members.invite"), { kind: "primary", iconName: "plus", onClick: invite }))),
    h("section", { class: "card" }, body));

  async function load() {
    try {
      all = (await accountApi.members.list(signal)).data;
      render();
    } catch (e) {
      if (e.name !== "AbortError") clear(body, h("div", { class: "card-body" }, errorAlert(e, t("members.load_failed"))));
    }
  }

  function render() {
    if (!all.length) {
      clear(body, empty({ iconName: "overview", title: t("members.none") }));
      return;
    }
    clear(tbody, all.map(row));
  }

  function row(m) {
    const self = m.id === me.id;
    const status = m.status === "active" ? badge(t("members.active"), "success")
      : badge(t("members.invited"), "warning");
    let roleCell = h("span", null, t(`role.${m.role}`), h("span", { class: "muted small" }, ` · ${t("members.you")}`));
    if (!self) {
      roleCell = roleSelect(m.role, t("members.role_of", { email: m.email }));
      roleCell.style.width = "auto";
      roleCell.addEventListener("change", () => setRole(m, roleCell));
    }
    return h("tr", { dataset: { memberId: m.id } },
      h("td", { class: "primary-cell" }, h("div", { class: "cell-title" }, m.email)),
      h("td", { "data-label": t("members.role") }, roleCell),
      h("td", { "data-label": t("keys.status") }, status),
      h("td", { "data-label": t("members.added"), class: "nowrap small" }, fmtRelative(m.created_at)),
      h("td", { class: "actions-cell" }, h("div", { class: "row-actions" },
        self ? null : iconButton("trash", t("members.remove", { email: m.email }), () => remove(m)))));
  }

  async function invite() {
    const created = await inviteDialog();
    if (!created) return;
    const { invite_url: _url, invite_token: _token, ...member } = created;
    all.push(member);
    render();
    await linkDialog(created);
  }

  async function setRole(m, select) {
    try {
      const updated = await accountApi.members.setRole(m.id, select.value);
      Object.assign(m, updated);
      toast(t("members.role_changed", { email: m.email, role: t(`role.${updated.role}`) }));
    } catch (e) {
      select.value = m.role;
      toast(e.message, "error");
    }
  }

  async function remove(m) {
    const ok = await confirmDialog({ title: t("members.remove_title", { email: m.email }), danger: true,
      confirm: t("members.remove_confirm"), text: t("members.remove_text") });
    if (!ok) return;
    try {
      await accountApi.members.remove(m.id);
      all = all.filter((x) => x.id !== m.id);
      render();
      toast(t("members.removed", { email: m.email }));
    } catch (e) {
      toast(e.message, "error");
    }
  }

  load();
}
