// The console's language and its strings. The relay chose the language when it served the
// page (the `llmrelay_lang` cookie, else Accept-Language) and wrote it in <html lang>; the
// strings are the table for it, the same file the catalogue page is rendered from.
export const LANGUAGES = ["en", "zh"];
/** Each language by its own name (the same in every language, so not in the tables). */
export const LANGUAGE_NAMES = { en: "English", zh: "中文" };
const COOKIE = "llmrelay_lang";

const asked = document.documentElement.lang;
export const lang = LANGUAGES.includes(asked) ? asked : "en";
/** The locale numbers and dates are written in. */
export const locale = lang === "zh" ? "zh-CN" : "en-US";

const strings = await fetch(`/console/assets/i18n/${lang}.json`).then((r) => r.json());

/** The string `key` in the page's language, `{name}` placeholders filled from `values`. */
export function t(key, values) {
  const text = strings[key];
  if (text === undefined) {
    console.error(`llmrelay: no "${key}" in the ${lang} strings`);
    return key;
  }
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** `key.one` for one, else `key.other`, with `{n}` written in the page's locale. */
export function tn(key, n, values) {
  return t(`${key}.${n === 1 ? "one" : "other"}`, { n: n.toLocaleString(locale), ...values });
}

/** Remembers `code` (a year; the docs and the catalogue read the same cookie) and reloads. */
export function setLanguage(code) {
  document.cookie = `${COOKIE}=${code}; path=/; max-age=31536000; samesite=lax`;
  location.reload();
}

/** Two buttons, English and 中文, the current one pressed. */
export function languageSwitch() {
  const group = document.createElement("div");
  group.className = "lang-switch";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", t("lang.label"));
  for (const code of LANGUAGES) {
    const button = document.createElement("button");
    button.type = "button";
    button.lang = code;
    button.textContent = LANGUAGE_NAMES[code];
    button.setAttribute("aria-pressed", String(code === lang));
    button.addEventListener("click", () => { if (code !== lang) setLanguage(code); });
    group.append(button);
  }
  return group;
}
