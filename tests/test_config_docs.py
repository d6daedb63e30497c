"""docs/configuration.md documents every field of every configuration struct, with the
default the code has: a new field, or a changed default, fails here until the page says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from markdown_it import MarkdownIt

from llmrelay import config, config_ops
from llmrelay.docs_site.render import slug

PAGE = Path(__file__).parents[1] / "docs" / "configuration.md"
TABLES: dict[str, type] = {
    "server": config_ops.ServerConfig,
    "type-openai": config.OpenAIProvider,
    "type-anthropic": config.AnthropicProvider,
    "type-gemini": config.GeminiProvider,
    "type-local": config.LocalProvider,
    "type-local-embeddings": config.LocalEmbeddingsProvider,
    "provider-timeouts": config.Timeouts,
    "models": config.ModelConfig,
    "deployments": config.DeploymentConfig,
    "price": config.Price,
    "fallbacks": config.Fallbacks,
    "reasoning_budgets": config.ReasoningBudgets,
    "model-timeouts": config.TimeoutOverrides,
    "routing": config.RoutingConfig,
    "routingbreaker": config.BreakerConfig,
    "routinghealth_check": config.HealthCheckConfig,
    "billing": config.BillingConfig,
    "images": config.ImagesConfig,
    "responses": config.ResponsesConfig,
    "metrics": config_ops.MetricsConfig,
    "tracing": config_ops.TracingConfig,
    "catalogue": config_ops.CatalogueConfig,
}
"""Each table of the page (by its heading's anchor), and the struct it documents."""


def documented_tables() -> dict[str, dict[str, str]]:
    """Each table's rows, by the heading above it: field name -> its default cell's text."""
    tokens = MarkdownIt("commonmark").enable("table").parse(PAGE.read_text())
    tables: dict[str, dict[str, str]] = {}
    heading = ""
    row: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = slug(tokens[i + 1].content.replace("`", ""))
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and tokens[i - 1].type == "td_open":
            row.append(token.content)
        elif token.type == "tr_close" and row:
            tables.setdefault(heading, {})[row[0].strip("`")] = row[1]
    return tables


def expected_default(field: msgspec.structs.FieldInfo) -> str | None:
    """The default as the page writes it (`null`, `false`, `[...]`), or None for a struct
    (the page points to its own table)."""
    if field.default is not msgspec.NODEFAULT:
        value: Any = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "required"
    if isinstance(value, msgspec.Struct):
        return None
    if isinstance(value, bool) or value is None:
        return f"`{json.dumps(value)}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def test_every_section_is_a_table() -> None:
    for section, kind in config.SECTIONS.items():
        assert TABLES.get(section) is kind, f"configuration.md has no table for `{section}`"


def test_every_field_is_documented_with_its_default() -> None:
    tables = documented_tables()
    for heading, kind in TABLES.items():
        rows = tables.get(heading)
        assert rows is not None, f"configuration.md: no table under a heading `{heading}`"
        fields = {field.name: field for field in msgspec.structs.fields(kind)}
        assert set(rows) == set(fields), f"`{heading}`: documented {sorted(rows)}"
        for name, field in fields.items():
            expected = expected_default(field)
            if expected is not None:
                cell = rows[name]
                assert cell.startswith(expected), f"`{heading}.{name}`: {cell!r}, not {expected}"
