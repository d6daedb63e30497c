"""The model catalogue's HTML (`/models`): one card per model, in the reader's language.

It is built on the server from the same `ModelInfo` as `/admin/models`, so the page works
without scripts and is complete as soon as it arrives; `catalogue.js` adds the copy buttons,
the filter and the sign-in of a private catalogue. Everything it loads comes from the relay.
"""

from __future__ import annotations

import json
import re
from html import escape

from llmrelay.admin.shapes import DeploymentHealth, ModelInfo
from llmrelay.console.i18n import LANGUAGES, Strings

ASSETS = "/console/assets"
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
"""Each language by its own name: the same in every table, so not in them."""
KEY_VARIABLE = "LLMRELAY_KEY"
PRICES = (("input", "cat.input"), ("output", "cat.output"), ("cached_input", "cat.cached"))


def html_format(text: str, **parts: str) -> str:
    """`text` escaped, with `{name}` placeholders replaced by the ready-made HTML `parts`."""
    return re.sub(r"\{(\w+)\}", lambda m: parts.get(m[1], m[0]), escape(text))


def price(value: float) -> str:
    """USD with two to four decimals: $1.25, $0.125, $0.0375."""
    text = f"{value:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def request_example(model: ModelInfo, base_url: str, t: Strings) -> str:
    """A curl command that works as printed once `$LLMRELAY_KEY` holds a key; its body is
    laid out one field a line, as the seed's example is, so that a phone shows it whole."""
    prompt = json.dumps(t("cat.example_prompt"), ensure_ascii=False)
    if embeddings_only(model):
        path, fields = "embeddings", [f'"input": {prompt}']
    else:
        message = f'{{"role": "user", "content": {prompt}}}'
        path, fields = "chat/completions", [f'"messages": [{message}]']
    fields.insert(0, f'"model": {json.dumps(model.id, ensure_ascii=False)}')
    body = "{\n" + ",\n".join(f"    {field}" for field in fields) + "\n  }"
    return "\n".join(
        [
            f"curl {base_url}/v1/{path} \\",
            f'  -H "Authorization: Bearer ${KEY_VARIABLE}" \\',
            '  -H "Content-Type: application/json" \\',
            f"  -d {shell_quote(body)}",
        ]
    )


def embeddings_only(model: ModelInfo) -> bool:
    endpoints = model.capabilities.endpoints
    return "chat" not in endpoints and "embeddings" in endpoints


def health(deployments: list[DeploymentHealth], t: Strings) -> str:
    """The model's state as a client sees it: healthy while every deployment is, cooling
    down when none answers, recovering in between. Provider names stay private."""
    states = [d.state for d in deployments]
    healthy = states.count("healthy")
    if healthy == len(states):
        worst, tone = "healthy", "ok"
    elif states.count("cooldown") == len(states):
        worst, tone = "cooldown", "bad"
    else:
        worst, tone = "half_open", "warn"
    detail = t("health.of", healthy=healthy, total=len(states))
    label = t(f"health.{worst}")
    if len(states) > 1:
        label += f" · {healthy}/{len(states)}"
    return (
        f'<span class="health {tone}" data-state="{worst}" title="{escape(detail)}">'
        f'<span class="dot {tone}" aria-hidden="true"></span>{escape(label)}</span>'
    )


def capabilities(model: ModelInfo, t: Strings) -> str:
    caps = model.capabilities
    if embeddings_only(model):
        return f'<ul class="caps"><li class="cap on">{escape(t("cap.embeddings"))}</li></ul>'
    items = []
    for name in ("vision", "reasoning", "tools"):
        present = getattr(caps, name)
        state = "on" if present else "off"
        said = t("cap.yes") if present else t("cap.no")
        items.append(
            f'<li class="cap {state}" data-cap="{name}"><span aria-hidden="true">'
            f"{'✓' if present else '–'}</span>{escape(t(f'cap.{name}'))}"
            f'<span class="visually-hidden">: {escape(said)}</span></li>'
        )
    return f'<ul class="caps" aria-label="{escape(t("cat.capabilities"))}">{"".join(items)}</ul>'


def facts(model: ModelInfo, t: Strings) -> str:
    context = (
        t("cat.tokens", n=f"{model.context_length:,}")
        if model.context_length
        else t("cat.context_unknown")
    )
    rows = [("context", t("cat.context"), context)]
    for field, label in PRICES:
        value = price(getattr(model.price, field)) if model.price else t("cat.unpriced")
        rows.append((field, t(label), value))
    cells = "".join(
        f'<div data-fact="{name}"><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>'
        for name, label, value in rows
    )
    return f'<dl class="facts">{cells}</dl>'


def model_card(model: ModelInfo, base_url: str, t: Strings) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", model.id)
    aliases = ""
    if model.aliases:
        chips = "".join(f'<span class="chip mono">{escape(a)}</span>' for a in model.aliases)
        label = f'<span class="muted">{escape(t("cat.aliases"))}</span>'
        aliases = f'<div class="aliases">{label}{chips}</div>'
    description = f'<p class="muted">{escape(model.description)}</p>' if model.description else ""
    example = escape(request_example(model, base_url, t))
    search = escape(" ".join([model.id, *model.aliases]).lower())
    copy_label = escape(t("cat.copy_example", name=model.id))
    return f"""<article class="card model" id="model-{slug}" data-model="{escape(model.id)}"
  data-search="{search}" aria-labelledby="name-{slug}">
 <div class="model-head">
  <div class="model-name"><h2 class="mono" id="name-{slug}">{escape(model.id)}</h2>{aliases}</div>
  {health(model.health, t)}
 </div>
 {description}{capabilities(model, t)}{facts(model, t)}
 <div class="example">
  <div class="example-head"><span>{escape(t("cat.example"))}</span>
   <button class="btn btn-sm" type="button" data-copy="example-{slug}"
    aria-label="{copy_label}">{escape(t("common.copy"))}</button></div>
  <pre class="code" id="example-{slug}"><code>{example}</code></pre>
 </div>
</article>"""


def language_switch(language: str, t: Strings) -> str:
    """Links that set the `llmrelay_lang` cookie (the server does, answering `?lang=`)."""
    current = ' aria-current="true"'
    links = "".join(
        f'<a href="?lang={code}" lang="{code}" hreflang="{code}" data-lang="{code}"'
        f"{current if code == language else ''}>{LANGUAGE_NAMES[code]}</a>"
        for code in LANGUAGES
    )
    label = escape(t("lang.label"))
    return f'<div class="lang-switch" role="group" aria-label="{label}">{links}</div>'


def page(t: Strings, body: str, *, status_class: str = "") -> str:
    title = escape(t("cat.title"))
    logo = f'<img src="{ASSETS}/favicon.svg" alt="" width="26" height="26">'
    return f"""<!doctype html>
<html lang="{t.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · llmrelay</title>
<link rel="icon" href="{ASSETS}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{ASSETS}/app.css">
<link rel="stylesheet" href="{ASSETS}/catalogue.css">
<script type="module" src="{ASSETS}/js/catalogue.js"></script>
</head>
<body class="catalogue {status_class}">
<header class="cat-top">
 <a class="cat-brand" href="/models">{logo}llmrelay</a>
 <nav class="cat-links" aria-label="{escape(t("cat.nav"))}">
  <a href="/docs">{escape(t("nav.docs"))}</a><a href="/console">{escape(t("nav.console"))}</a>
  {language_switch(t.language, t)}
 </nav>
</header>
<main class="cat-main" id="catalogue">
{body}
</main>
</body>
</html>
"""


def catalogue_body(models: list[ModelInfo], base_url: str, t: Strings) -> str:
    code = f'<code class="mono">{escape(base_url)}/v1</code>'
    auth = f'<code class="mono">Authorization: Bearer ${KEY_VARIABLE}</code>'
    cards = "".join(model_card(m, base_url, t) for m in sorted(models, key=lambda m: m.id))
    if not models:
        cards = f'<p class="empty-note">{escape(t("cat.empty"))}</p>'
    return f"""<div class="page-head">
 <div><h1>{escape(t("cat.title"))}</h1><p>{escape(t("cat.intro"))}</p></div>
 <input class="input cat-filter" type="search" hidden placeholder="{escape(t("models.filter"))}"
  aria-label="{escape(t("models.filter"))}">
</div>
<section class="card cat-base" aria-label="{escape(t("cat.base_url"))}">
 <div><span class="muted">{escape(t("cat.base_url"))}</span> {code}</div>
 <p class="muted small">{html_format(t("cat.key_hint"), header=auth)}</p>
 <p class="muted small">{escape(t("cat.prices_note"))}</p>
</section>
<p class="cat-count muted" aria-live="polite">{escape(t.count("models.count", len(models)))}</p>
<div class="models">{cards}</div>
<p class="empty-note" data-no-match hidden>{escape(t("cat.no_match"))}</p>"""


def sign_in_body(t: Strings) -> str:
    """A private catalogue's answer to a stranger: a form whose key the script sends (with
    the page's request again) and keeps for this tab, as the console keeps its key."""
    return f"""<section class="card cat-signin">
 <h1>{escape(t("cat.private_title"))}</h1>
 <p class="muted">{escape(t("cat.private_text"))}</p>
 <form class="form" data-signin>
  <div data-message aria-live="polite"></div>
  <div class="field"><label for="cat-key">{escape(t("cat.key_label"))}</label>
   <input class="input secret" id="cat-key" type="password" autocomplete="current-password"
    placeholder="sk-…" spellcheck="false" required></div>
  <button class="btn btn-primary" type="submit">{escape(t("cat.sign_in"))}</button>
 </form>
</section>"""
