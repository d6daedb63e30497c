"""Settings: a YAML file plus environment, validated once at start.

With no file the embedded default serves the packaged local model, so `llmrelay serve`
works with zero configuration. A bad file refuses to start with a message naming the field.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from llmrelay.config_ops import CatalogueConfig, MetricsConfig, ServerConfig, TracingConfig

DEFAULT_LOCAL_MODEL = "smollm2-135m-instruct"
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the bad field."""


class Timeouts(msgspec.Struct, forbid_unknown_fields=True):
    """Seconds. `first_token` bounds the wait for response headers and the first byte."""

    connect: float = 10.0
    first_token: float = 120.0
    idle: float = 120.0
    total: float = 600.0


class OpenAIProvider(msgspec.Struct, tag="openai", tag_field="type", forbid_unknown_fields=True):
    """Any server that speaks OpenAI's Chat Completions API."""

    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    max_connections: int = 1000
    reasoning_style: Literal["openai", "deepseek", "qwen", "vllm"] = "openai"
    """How a reasoning model-name suffix is spelt for this server (see README)."""
    responses: bool | None = None
    """Whether the server also speaks OpenAI's Responses API (`{base_url}/responses`): then
    the Responses door passes its requests through. Default: yes for api.openai.com only."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None
    """How to send an output cap the relay sets itself (a budget's): `max_completion_tokens`
    for api.openai.com, `max_tokens` elsewhere, unless set."""


class LocalProvider(msgspec.Struct, tag="local", tag_field="type", forbid_unknown_fields=True):
    """The embedded llama.cpp engine; with no `model_path`, the packaged SmolLM2 GGUF."""

    model_path: str | None = None
    context_size: int = 2048
    batch_size: int = 128
    threads: int | None = None
    nice: int = 5
    """CPU priority of the engine thread, relative to the relay: requests to other models
    stay fast while the model generates."""
    queue_size: int = 16
    max_tokens_default: int = 256
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)


class LocalEmbeddingsProvider(
    msgspec.Struct, tag="local-embeddings", tag_field="type", forbid_unknown_fields=True
):
    """An embedded sentence-embedding model on onnxruntime; with no paths, the packaged
    all-MiniLM-L6-v2 (int8 ONNX) and its tokenizer."""

    model_path: str | None = None
    """An ONNX BERT-style encoder (inputs `input_ids`, `attention_mask`, maybe
    `token_type_ids`; output the last hidden state), mean-pooled and normalised."""
    tokenizer_path: str | None = None
    """Its `tokenizer.json` (Hugging Face `tokenizers` format)."""
    max_length: int = 256
    """Tokens per input; longer inputs are cut (as sentence-transformers does)."""
    threads: int | None = None
    queue_size: int = 16
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)


class AnthropicProvider(
    msgspec.Struct, tag="anthropic", tag_field="type", forbid_unknown_fields=True
):
    """Anthropic's Messages API (`POST {base_url}/v1/messages`)."""

    api_key: str | None = None
    base_url: str = "https://api.anthropic.com"
    anthropic_version: str = "2023-06-01"
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    max_connections: int = 1000


class GeminiProvider(msgspec.Struct, tag="gemini", tag_field="type", forbid_unknown_fields=True):
    """Google's Gemini API (`{base_url}/models/{model}:generateContent`)."""

    api_key: str | None = None
    base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    max_connections: int = 1000


ProviderConfig = (
    OpenAIProvider | LocalProvider | LocalEmbeddingsProvider | AnthropicProvider | GeminiProvider
)

REMOTE_PROVIDERS = (OpenAIProvider, AnthropicProvider, GeminiProvider)
RemoteProviderConfig = OpenAIProvider | AnthropicProvider | GeminiProvider


class ReasoningBudgets(msgspec.Struct, forbid_unknown_fields=True):
    """Thinking-token budgets for each `reasoning_effort` (and the model-name suffixes)."""

    minimal: int = 1024
    low: int = 1024
    medium: int = 2048
    high: int = 4096

    def for_effort(self, effort: str) -> int | None:
        return getattr(self, effort, None) if effort in self.__struct_fields__ else None


class TimeoutOverrides(msgspec.Struct, forbid_unknown_fields=True):
    """A model's own timeouts; what it leaves out comes from the provider."""

    connect: float | None = None
    first_token: float | None = None
    idle: float | None = None
    total: float | None = None

    def over(self, base: Timeouts) -> Timeouts:
        return Timeouts(
            connect=self.connect if self.connect is not None else base.connect,
            first_token=self.first_token if self.first_token is not None else base.first_token,
            idle=self.idle if self.idle is not None else base.idle,
            total=self.total if self.total is not None else base.total,
        )


class DeploymentConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One place a model is served: weighted random within a priority tier (0 is first)."""

    provider: str
    upstream_model: str | None = None
    weight: float = 1.0
    priority: int = 0


class Price(msgspec.Struct, forbid_unknown_fields=True):
    """USD per million tokens. Reasoning tokens are output tokens; cached input and cache
    writes cost `input` unless priced apart."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None
    cache_write: float | None = None

    @property
    def cached_input_rate(self) -> float:
        """What a cached input token costs as charged (`input` unless priced apart)."""
        return self.input if self.cached_input is None else self.cached_input

    @property
    def cache_write_rate(self) -> float:
        return self.input if self.cache_write is None else self.cache_write


FallbackKind = Literal["context_length", "content_filter"]


class Fallbacks(msgspec.Struct, forbid_unknown_fields=True):
    """Other models to try, by what went wrong. `default`: after every deployment failed (a
    connection error, timeout, 429, 5xx); `context_length` and `content_filter`: at once, when
    an upstream refused the request as too long or as filtered (never retried on this model)."""

    default: list[str] = []
    context_length: list[str] = []
    content_filter: list[str] = []

    def lists(self) -> dict[str, list[str]]:
        return {name: getattr(self, name) for name in self.__struct_fields__}


class ModelConfig(msgspec.Struct, forbid_unknown_fields=True):
    """A public model name, where it is served, and what it can do.

    Either `provider` (+ `upstream_model`) for one deployment, or a `deployments` list."""

    provider: str | None = None
    upstream_model: str | None = None
    deployments: list[DeploymentConfig] = []
    aliases: list[str] = []
    fallbacks: list[str] | Fallbacks = []
    """A list is `default` only; a mapping gives each kind its own list (see `Fallbacks`)."""
    timeouts: TimeoutOverrides | None = None
    owned_by: str | None = None
    description: str | None = None
    reasoning: bool = False
    vision: bool = False
    max_tokens_default: int | None = None
    context_length: int | None = None
    """Tokens of context (prompt and answer) the model takes, as listed by `/v1/models`,
    `/admin/models` and the `/models` page; a local model's defaults to its `context_size`."""
    max_output_tokens: int | None = None
    """The most output tokens the model's upstream accepts: a larger `max_tokens` (or
    `max_output_tokens`) from any client is lowered to it rather than refused upstream."""
    reasoning_budgets: ReasoningBudgets = msgspec.field(default_factory=ReasoningBudgets)
    think_tags: bool = False
    drop_unsupported_params: bool = False
    price: Price | None = None
    api: Literal["chat", "responses"] = "chat"
    """The upstream API the relay calls for chat requests: `chat` (`/chat/completions`), or
    `responses` (`/responses`, for models OpenAI serves there only; `openai` providers only)."""

    def deployment_list(self, name: str) -> list[DeploymentConfig]:
        if self.deployments:
            return self.deployments
        assert self.provider is not None
        return [DeploymentConfig(self.provider, self.upstream_model or name)]

    def fallback_lists(self) -> Fallbacks:
        if isinstance(self.fallbacks, Fallbacks):
            return self.fallbacks
        return Fallbacks(default=list(self.fallbacks))


class ImagesConfig(msgspec.Struct, forbid_unknown_fields=True):
    """How the relay fetches image URLs for vendors that need images inline."""

    allow_private_networks: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 10.0


class BreakerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """`failures` retryable failures within `window_seconds` cool a deployment down."""

    failures: int = 3
    window_seconds: float = 30.0
    cooldown_seconds: float = 5.0
    max_cooldown_seconds: float = 300.0


RetryKind = Literal["connect", "timeout", "429", "5xx"]


class HealthCheckConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Probe deployments whose breaker is open every `interval_seconds`; success closes it."""

    interval_seconds: float = 10.0
    timeout_seconds: float = 5.0


class RoutingConfig(msgspec.Struct, forbid_unknown_fields=True):
    retry_on: list[RetryKind] = msgspec.field(
        default_factory=lambda: ["connect", "timeout", "429", "5xx"]
    )
    max_attempts: int = 4
    backoff_seconds: float = 0.05
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    health_check: HealthCheckConfig | None = None
    """Active health checks; off unless set."""


class BillingConfig(msgspec.Struct, forbid_unknown_fields=True):
    """How budgets reserve a request's worst-case cost before it goes upstream."""

    require_prices: bool = False
    default_max_tokens: int = 4096
    """Output tokens reserved for a request that sets no `max_tokens`."""
    prompt_margin: float = 1.25
    """The one estimate in a prompt's bound, a word the local vocabulary holds whole (a token
    per four letters), times this: vendors' tokenizers split the rarer words further. At 2,
    no such word costs more at OpenAI (o200k, cl100k) than it reserves."""
    image_tokens: int = 1600
    """Prompt tokens reserved per image part."""
    attachment_chars_per_token: int = 4
    """Files and audio: prompt tokens reserved per this many base64 characters."""
    reservation_ttl_seconds: float = 3600.0
    """A reservation left by a replica that died is released after this long."""


class ResponsesConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The Responses API door's stored responses (`store: true`, the API's default)."""

    store_ttl_days: float = 30.0
    """A stored response is served (and continued) this long after it was created."""


class ConfigSource(msgspec.Struct, frozen=True):
    """How the settings were loaded (the file, the command line's overrides), so that a
    reload reads them again the same way. Not a section of the file."""

    path: str | None = None
    """The file; None: the embedded default."""
    host: str | None = None
    port: int | None = None
    data_dir: str | None = None


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    billing: BillingConfig = msgspec.field(default_factory=BillingConfig)
    images: ImagesConfig = msgspec.field(default_factory=ImagesConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    responses: ResponsesConfig = msgspec.field(default_factory=ResponsesConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    tracing: TracingConfig = msgspec.field(default_factory=TracingConfig)
    catalogue: CatalogueConfig = msgspec.field(default_factory=CatalogueConfig)
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    source: ConfigSource = msgspec.field(default_factory=ConfigSource)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def database_url(self) -> str:
        if self.server.database_url:
            return self.server.database_url
        return f"sqlite:///{(self.data_path / 'llmrelay.db').resolve()}"


SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "billing": BillingConfig,
    "images": ImagesConfig,
    "routing": RoutingConfig,
    "responses": ResponsesConfig,
    "metrics": MetricsConfig,
    "tracing": TracingConfig,
    "catalogue": CatalogueConfig,
}
"""The file's sections that are one struct each (besides `providers` and `models`)."""

DEFAULT_CONFIG: dict[str, Any] = {
    "providers": {
        "local": {"type": "local"},
        "local-embeddings": {"type": "local-embeddings"},
    },
    "models": {
        DEFAULT_LOCAL_MODEL: {
            "provider": "local",
            "owned_by": "llmrelay",
            "description": "SmolLM2-135M-Instruct, embedded llama.cpp engine",
        },
        DEFAULT_EMBEDDING_MODEL: {
            "provider": "local-embeddings",
            "owned_by": "llmrelay",
            "description": "all-MiniLM-L6-v2 sentence embeddings (384 dimensions), embedded "
            "onnxruntime engine",
        },
    },
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, where: str) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of the document."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV_REF.sub(substitute, value)


def _expand_gguf_models(raw: dict[str, Any]) -> dict[str, Any]:
    """`models: {NAME: {gguf: FILE}}` is a model the embedded engine serves from FILE: it gets
    a `local` provider of its own, named after it."""
    models = raw.get("models")
    if not isinstance(models, dict):
        return raw
    providers = dict(raw.get("providers") or {})
    expanded = {}
    for name, model in models.items():
        if isinstance(model, dict) and "gguf" in model:
            where = f"$.models.{name}"
            if "provider" in model or "deployments" in model:
                raise ConfigError(f"{where}: give `gguf` or `provider`/`deployments`, not both")
            if name in providers:
                raise ConfigError(f"{where}.gguf: a provider is already named {name!r}")
            model = dict(model)
            providers[name] = {"type": "local", "model_path": model.pop("gguf")}
            model["provider"] = name
        expanded[name] = model
    return {**raw, "providers": providers, "models": expanded}


def _check_model(settings: Settings, name: str, model: ModelConfig, seen: set[str]) -> None:
    where = f"$.models.{name}"
    if (model.provider is None) == (not model.deployments):
        raise ConfigError(f"{where}: give either `provider` or `deployments`, not both or none")
    for i, deployment in enumerate(model.deployment_list(name)):
        if deployment.provider not in settings.providers:
            known = ", ".join(sorted(settings.providers)) or "none"
            field = f"deployments[{i}].provider" if model.deployments else "provider"
            raise ConfigError(
                f"{where}.{field}: unknown provider {deployment.provider!r} (known: {known})"
            )
        if deployment.weight <= 0:
            raise ConfigError(f"{where}.deployments[{i}].weight: must be above 0")
        provider = settings.providers[deployment.provider]
        if model.api == "responses" and not isinstance(provider, OpenAIProvider):
            kind = type(provider).__struct_config__.tag
            raise ConfigError(
                f"{where}.api: 'responses' needs an openai provider, and "
                f"{deployment.provider!r} is of type {kind!r}"
            )
    if model.price is None and settings.billing.require_prices:
        raise ConfigError(f"{where}.price: required, since billing.require_prices is on")
    if model.price is not None:
        for part, value in msgspec.structs.asdict(model.price).items():
            if value is not None and value < 0:
                raise ConfigError(f"{where}.price.{part}: must not be negative")
    _check_fallbacks(settings, name, model)
    for alias in model.aliases:
        if alias in settings.models or alias in seen:
            raise ConfigError(f"{where}.aliases: {alias!r} names another model or alias")
        seen.add(alias)


def _check_fallbacks(settings: Settings, name: str, model: ModelConfig) -> None:
    where = f"$.models.{name}.fallbacks"
    for kind, fallbacks in model.fallback_lists().lists().items():
        place = where if isinstance(model.fallbacks, list) else f"{where}.{kind}"
        for fallback in fallbacks:
            if fallback not in settings.models or fallback == name:
                raise ConfigError(f"{place}: {fallback!r} is not another configured model")


def _check_networks(where: str, networks: list[str]) -> None:
    for i, text in enumerate(networks):
        try:
            ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ConfigError(
                f"{where}[{i}]: {exc}; expected an IP address or a network like 10.0.0.0/8"
            ) from None


def check_references(settings: Settings) -> None:
    """Raise ConfigError for a section that refers to what is not there or is out of range."""
    _check_networks("$.server.trusted_proxies", settings.server.trusted_proxies)
    seen: set[str] = set()
    for name, model in settings.models.items():
        _check_model(settings, name, model, seen)
    if settings.routing.max_attempts < 1:
        raise ConfigError("$.routing.max_attempts: must be at least 1")
    if settings.responses.store_ttl_days <= 0:
        raise ConfigError("$.responses.store_ttl_days: must be above 0")
    if settings.server.drain_seconds < 0:
        raise ConfigError("$.server.drain_seconds: must not be negative")
    check = settings.routing.health_check
    if check is not None and min(check.interval_seconds, check.timeout_seconds) <= 0:
        raise ConfigError("$.routing.health_check: interval and timeout must be above 0")
    for name, provider in settings.providers.items():
        if isinstance(provider, REMOTE_PROVIDERS) and not provider.base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(f"$.providers.{name}.base_url: must start with http:// or https://")
        queued = isinstance(provider, LocalProvider | LocalEmbeddingsProvider)
        if queued and provider.queue_size < 1:
            raise ConfigError(f"$.providers.{name}.queue_size: must be at least 1")
        if isinstance(provider, LocalEmbeddingsProvider) and provider.max_length < 2:
            raise ConfigError(f"$.providers.{name}.max_length: must be at least 2")


def parse_settings(document: dict[str, Any] | None) -> Settings:
    """Validate a parsed YAML document (None means the embedded default)."""
    raw = DEFAULT_CONFIG if document is None else document
    if not isinstance(raw, dict):
        raise ConfigError("$: the configuration must be a mapping")
    if document is not None and "models" not in raw and "providers" not in raw:
        raw = {**DEFAULT_CONFIG, **raw}
    raw = _expand_gguf_models(_interpolate(raw, "$"))
    sections = set(SECTIONS) | {"providers", "models"}
    unknown = set(raw) - sections
    if unknown:
        raise ConfigError(f"$: unknown section(s): {', '.join(sorted(unknown))}")
    settings = Settings(
        **{
            name: _convert(raw.get(name) or {}, kind, f"$.{name}")
            for name, kind in SECTIONS.items()
        },
        providers=_convert_each(raw.get("providers"), ProviderConfig, "$.providers"),
        models=_convert_each(raw.get("models"), ModelConfig, "$.models"),
    )
    check_references(settings)
    return settings


def _convert(value: Any, kind: Any, where: str) -> Any:
    """msgspec validation, with the error's `$` replaced by where the value sits in the file."""
    try:
        return msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`$", f"`{where}")
        if "`" + where not in message:
            message = f"{message} - at `{where}`"
        raise ConfigError(message) from None


def _convert_each(section: Any, kind: Any, where: str) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a mapping of names to settings")
    return {str(name): _convert(value, kind, f"{where}.{name}") for name, value in section.items()}


def _read_yaml(path: Path) -> Any:
    """The parsed file; its name (not `<unicode string>`) in any syntax error's position."""
    try:
        with path.open("rb") as stream:
            return yaml.safe_load(stream) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: str | None = None,
    workers: str | None = None,
) -> Settings:
    """Read the file (or the default), then apply environment and explicit overrides."""
    path = path or os.environ.get("LLMRELAY_CONFIG")
    source = ConfigSource(str(path) if path else None, host, port, data_dir)
    document = None
    if path:
        document = _read_yaml(Path(path))
    settings = parse_settings(document)
    server = settings.server
    host = host or os.environ.get("LLMRELAY_HOST") or server.host
    port_text = port or os.environ.get("LLMRELAY_PORT") or server.port
    try:
        port_number = int(port_text)
    except ValueError:
        raise ConfigError(f"LLMRELAY_PORT: not a port number: {port_text!r}") from None
    data_dir = data_dir or os.environ.get("LLMRELAY_DATA_DIR") or server.data_dir
    database_url = os.environ.get("LLMRELAY_DATABASE_URL") or server.database_url
    redis_url = os.environ.get("LLMRELAY_REDIS_URL") or server.redis_url
    settings.server = msgspec.structs.replace(
        server,
        host=host,
        port=port_number,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        workers=_workers(workers or os.environ.get("LLMRELAY_WORKERS") or server.workers),
    )
    settings.source = source
    return settings


def _workers(value: int | str) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"workers: a number of processes (1 or more), or 'auto': {value!r}")
    return count
