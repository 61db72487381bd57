"""One settings object, built once from the environment at an entry point and passed down."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from redraft.errors import ConfigError

DEFAULT_HOME = Path("~/.redraft")
CALL_TIMEOUT = 120.0  # a model call's timeout when REDRAFT_REQUEST_TIMEOUT is not set
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # REDRAFT_LOG_LEVEL and --log-level


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number — set it to e.g. {default}"
        ) from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number — set it to e.g. {default}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean — use true or false")


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    return _float(env, name, 0.0) if env.get(name) else None


# Field -> (its variable, the rule in words, the test, an example value) for validated().
_RANGES: dict[str, tuple[str, str, Callable[[float], bool], float]] = {
    "port": ("REDRAFT_PORT", "between 1 and 65535", lambda v: 1 <= v <= 65535, 9090),
    "local_port": ("REDRAFT_LOCAL_PORT", "between 1 and 65535", lambda v: 1 <= v <= 65535, 8089),
    "threads": ("REDRAFT_THREADS", "at least 1", lambda v: v >= 1, 32),
    "temperature": ("REDRAFT_TEMPERATURE", "between 0 and 2", lambda v: 0 <= v <= 2, 0.7),
    "max_tokens": ("REDRAFT_MAX_TOKENS", "at least 1", lambda v: v >= 1, 600),
    "request_timeout": ("REDRAFT_REQUEST_TIMEOUT", "> 0", lambda v: v > 0, 25),
    "max_retries": ("REDRAFT_MAX_RETRIES", "0 or more", lambda v: v >= 0, 2),
    "max_concurrency": ("REDRAFT_MAX_CONCURRENCY", "at least 1", lambda v: v >= 1, 16),
    "predict_deadline": ("REDRAFT_PREDICT_DEADLINE", "> 0", lambda v: v > 0, 80),
    "max_body_mb": ("REDRAFT_MAX_BODY_MB", "at least 1", lambda v: v >= 1, 32),
    "connection_limit": ("REDRAFT_CONNECTION_LIMIT", "at least 1", lambda v: v >= 1, 1000),
    "channel_timeout": ("REDRAFT_CHANNEL_TIMEOUT", "at least 1", lambda v: v >= 1, 30),
}


@dataclass(frozen=True)
class Settings:
    """Everything redraft reads from its environment; flags override with `with_overrides`."""

    home: Path = field(default_factory=lambda: DEFAULT_HOME.expanduser())
    # Drafting model (any OpenAI-compatible endpoint). Until a registry version is active,
    # `model` is the model id and `model_version` the name Label Studio stores.
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    model: str = "gpt-4o-mini"
    model_version: str | None = None
    temperature: float = 0.7
    max_tokens: int = 600
    # None: each endpoint's timeout follows its latencies (redraft.backend.pacing); a value
    # fixes it. /predict still answers within predict_deadline, below Label Studio's 100 s.
    request_timeout: float | None = None
    max_retries: int = 2
    # The most model calls in flight per endpoint; below it, drafting learns what the endpoint
    # takes (the local server says it, 429s and timeouts halve it).
    max_concurrency: int = 16
    predict_deadline: float = 80.0
    # Largest request body the backend reads (a "Retrieve predictions" of ~10,000 tasks).
    max_body_mb: int = 32
    # waitress: open connections at most, and seconds an idle connection is kept.
    connection_limit: int = 1000
    channel_timeout: int = 30
    template_path: Path | None = None
    cache_enabled: bool = True
    # Label Studio.
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_api_key: str | None = field(default=None, repr=False)
    label_studio_bin: Path | None = None  # the `label-studio` executable `redraft demo` runs
    # ML backend HTTP service.
    host: str = "127.0.0.1"
    port: int = 9090
    threads: int = 32
    basic_auth_user: str | None = None
    basic_auth_password: str | None = field(default=None, repr=False)
    # Label Studio sends it as the X-Redraft-Webhook-Secret header of the project's webhook.
    webhook_secret: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    # `redraft standin`: the bearer token it requires (None: any non-empty one).
    standin_api_key: str | None = field(default=None, repr=False)
    # Auto mode (redraft.loop.auto): train once enough new annotations arrived.
    auto_train: bool = False
    auto_train_threshold: int = 50
    auto_train_trainer: str = "openai"
    auto_train_base_model: str | None = None
    auto_train_max_steps: int = -1  # trl: cap every stage's steps (smoke runs); -1: the budgets
    auto_promote: bool = False
    # `redraft status` suggests re-learning the style notes after this many new edits.
    styles_relearn_edits: int = 30
    # The local open-weights model (redraft.local): base model, server port, converters' sdist.
    local_model: str | None = None
    local_port: int = 8089
    llama_cpp_sdist: Path | None = None
    # llama.cpp's `llama-server` (parallel slots) for `local serve`; None: llama-cpp-python's.
    llama_server_bin: Path | None = None
    # Local model files (default REDRAFT_HOME/models): shared by the demo's own home.
    models_home: Path | None = None
    # A shared registry in PostgreSQL (`postgresql://user:pass@host/db`); None: SQLite under
    # home. Hosts with different homes that name the same database share versions, what each
    # project drafts with, evaluation sets and import records.
    database_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (os.environ by default)."""
        env = os.environ if env is None else env
        template = env.get("REDRAFT_TEMPLATE")
        ls_bin = env.get("REDRAFT_LABEL_STUDIO_BIN")
        sdist = env.get("REDRAFT_LLAMA_CPP_SDIST")
        models = env.get("REDRAFT_MODELS_DIR")
        return cls(
            home=Path(env.get("REDRAFT_HOME") or DEFAULT_HOME).expanduser(),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            model=env.get("REDRAFT_MODEL") or cls.model,
            model_version=env.get("REDRAFT_MODEL_VERSION") or None,
            temperature=_float(env, "REDRAFT_TEMPERATURE", cls.temperature),
            max_tokens=_int(env, "REDRAFT_MAX_TOKENS", cls.max_tokens),
            request_timeout=_optional_float(env, "REDRAFT_REQUEST_TIMEOUT"),
            max_retries=_int(env, "REDRAFT_MAX_RETRIES", cls.max_retries),
            max_concurrency=_int(env, "REDRAFT_MAX_CONCURRENCY", cls.max_concurrency),
            predict_deadline=_float(env, "REDRAFT_PREDICT_DEADLINE", cls.predict_deadline),
            max_body_mb=_int(env, "REDRAFT_MAX_BODY_MB", cls.max_body_mb),
            connection_limit=_int(env, "REDRAFT_CONNECTION_LIMIT", cls.connection_limit),
            channel_timeout=_int(env, "REDRAFT_CHANNEL_TIMEOUT", cls.channel_timeout),
            template_path=Path(template).expanduser() if template else None,
            cache_enabled=_bool(env, "REDRAFT_CACHE", cls.cache_enabled),
            label_studio_url=(env.get("LABEL_STUDIO_URL") or cls.label_studio_url).rstrip("/"),
            label_studio_api_key=env.get("LABEL_STUDIO_API_KEY") or None,
            label_studio_bin=Path(ls_bin).expanduser() if ls_bin else None,
            host=env.get("REDRAFT_HOST") or cls.host,
            port=_int(env, "REDRAFT_PORT", cls.port),
            threads=_int(env, "REDRAFT_THREADS", cls.threads),
            basic_auth_user=env.get("REDRAFT_BASIC_AUTH_USER") or None,
            basic_auth_password=env.get("REDRAFT_BASIC_AUTH_PASSWORD") or None,
            webhook_secret=env.get("REDRAFT_WEBHOOK_SECRET") or None,
            log_level=(env.get("REDRAFT_LOG_LEVEL") or cls.log_level).upper(),
            standin_api_key=env.get("REDRAFT_STANDIN_API_KEY") or None,
            auto_train=_bool(env, "REDRAFT_AUTO_TRAIN", cls.auto_train),
            auto_train_threshold=_int(
                env, "REDRAFT_AUTO_TRAIN_THRESHOLD", cls.auto_train_threshold
            ),
            auto_train_trainer=(
                env.get("REDRAFT_AUTO_TRAIN_TRAINER") or cls.auto_train_trainer
            ).lower(),
            auto_train_base_model=env.get("REDRAFT_AUTO_TRAIN_BASE_MODEL") or None,
            auto_train_max_steps=_int(
                env, "REDRAFT_AUTO_TRAIN_MAX_STEPS", cls.auto_train_max_steps
            ),
            styles_relearn_edits=_int(
                env, "REDRAFT_STYLES_RELEARN_EDITS", cls.styles_relearn_edits
            ),
            auto_promote=_bool(env, "REDRAFT_AUTO_PROMOTE", cls.auto_promote),
            local_model=env.get("REDRAFT_LOCAL_MODEL") or None,
            local_port=_int(env, "REDRAFT_LOCAL_PORT", cls.local_port),
            llama_cpp_sdist=Path(sdist).expanduser() if sdist else None,
            llama_server_bin=(
                Path(env["REDRAFT_LLAMA_SERVER_BIN"]).expanduser()
                if env.get("REDRAFT_LLAMA_SERVER_BIN")
                else None
            ),
            models_home=Path(models).expanduser() if models else None,
            database_url=env.get("REDRAFT_DATABASE_URL") or None,
        ).validated()

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the given fields replaced; None values are ignored (unset flags)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **given).validated()

    def validated(self) -> Settings:
        """Check ranges and cross-field rules; raise ConfigError naming the variable and the fix."""
        for name, (variable, rule, ok, example) in _RANGES.items():
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ConfigError(f"{variable}={value} must be {rule} — set it to e.g. {example}")
        if (self.basic_auth_user is None) != (self.basic_auth_password is None):
            raise ConfigError(
                "basic auth needs both REDRAFT_BASIC_AUTH_USER and REDRAFT_BASIC_AUTH_PASSWORD"
            )
        if self.auto_train_threshold < 1:
            raise ConfigError("REDRAFT_AUTO_TRAIN_THRESHOLD must be at least 1 — e.g. 50")
        if self.styles_relearn_edits < 1:
            raise ConfigError("REDRAFT_STYLES_RELEARN_EDITS must be at least 1 — e.g. 30")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(
                f"REDRAFT_LOG_LEVEL={self.log_level} is not a log level — set it to one of "
                f"{', '.join(LOG_LEVELS)}"
            )
        if self.auto_train_trainer not in ("openai", "trl"):
            raise ConfigError("REDRAFT_AUTO_TRAIN_TRAINER must be openai or trl")
        if self.database_url is not None and not self.database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError(
                "REDRAFT_DATABASE_URL must be a PostgreSQL URL — e.g. "
                "postgresql://redraft:PASSWORD@db.internal:5432/redraft (unset: SQLite under "
                "REDRAFT_HOME)"
            )
        return self

    @property
    def active_model_version(self) -> str:
        """The version name predictions carry when no registry version is active."""
        return self.model_version or self.model

    @property
    def call_timeout(self) -> float:
        """Seconds one model call may take where no endpoint pace applies (judge, golden, A/B)."""
        return self.request_timeout if self.request_timeout is not None else CALL_TIMEOUT

    @property
    def cache_path(self) -> Path:
        return self.home / "cache.sqlite3"

    @property
    def registry_path(self) -> Path:
        return self.home / "registry.sqlite3"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def models_dir(self) -> Path:
        """Local model files: dequantised bases, GGUF LoRAs (REDRAFT_MODELS_DIR)."""
        return self.models_home or self.home / "models"

    @property
    def local_url(self) -> str:
        """The OpenAI-compatible URL of `redraft local serve` on this machine."""
        return f"http://127.0.0.1:{self.local_port}/v1"

    def require_label_studio_key(self) -> str:
        """Return the Label Studio token or fail with the fix."""
        if not self.label_studio_api_key:
            raise ConfigError(f"LABEL_STUDIO_API_KEY is not set — {self.token_fix()}")
        return self.label_studio_api_key

    def token_fix(self) -> str:
        """How to get a Label Studio token here: the demo's env file when there is one."""
        own = (
            "copy a token from Label Studio (Account & Settings → Personal Access Token) and "
            "export it"
        )
        for home in (self.home, self.home / "demo"):
            env_file = home / "labelstudio" / "demo.env"
            if env_file.is_file():
                return f"for the demo: source {env_file}; for your own Label Studio: {own}"
        return own
