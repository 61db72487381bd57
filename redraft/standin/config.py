"""Stand-in configuration (latency, models, fault rules) and its thread-safe runtime state."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from redraft.knobs import knob
from redraft.wording import noun

FaultKind = Literal["429", "500", "hang", "empty", "job_fail"]
FAULT_KINDS: tuple[str, ...] = ("429", "500", "hang", "empty", "job_fail")
CHAT_FAULT_KINDS: frozenset[str] = frozenset({"429", "500", "hang", "empty"})
REQUEST_LOG_KEEP = 10_000  # request bodies kept for tests; counts are kept exactly forever

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-mini",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4o-2024-08-06",
    "stand-in",
)


@dataclass
class FaultRule:
    """One injected fault: what happens, to which requests, how many times.

    `kind` "empty" answers 200 with content ""; "job_fail" fails a fine-tuning job midway
    (its `match` is then a substring of the job's suffix or base model). `model` limits a
    chat fault to requests for matching models (one fine-tuned version that writes nothing,
    say, while the base model drafts as usual).

    >>> FaultRule.from_dict({"kind": "429", "times": 2})
    FaultRule(kind='429', match=None, times=2, retry_after=1.0, model=None)
    """

    kind: FaultKind
    match: str | None = None  # substring of the last user message; None = any request
    times: int | None = None  # how many matching requests it hits; None = forever
    retry_after: float = 1.0  # seconds, sent as Retry-After on 429
    model: str | None = None  # substring of the requested model; None = any model

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times={self.times} must be >= 0 (or None for forever)")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build a rule from its JSON form; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown fault rule {noun(len(unknown), 'key')}: {', '.join(unknown)}"
            )
        return cls(**dict(data))


@dataclass
class StandinConfig:
    """How the stand-in behaves: latency, served models, faults, auth, job speed."""

    latency_ms: int = knob(0, "Delay per completion.", bounds=(0, None))
    models: tuple[str, ...] = DEFAULT_MODELS
    faults: list[FaultRule] = field(default_factory=list)
    hang_seconds: float = knob(30.0, "How long a hang lasts.", bounds=(0, None))
    api_key: str | None = None  # None = accept any non-empty bearer token
    job_step_seconds: float = knob(
        0.2, "Seconds per fine-tuning step (jobs finish after ~20 steps).", bounds=(0, None)
    )
    request_log_keep: int = REQUEST_LOG_KEEP  # request bodies kept; counts stay exact
    # A hosted endpoint's concurrency limit: chat requests beyond it get a 429 (0 = none).
    max_in_flight: int = knob(
        0,
        "Answer 429 to chat requests beyond this many in flight, as a rate-limited host does "
        "(0 = no limit).",
        bounds=(0, None),
    )


class StandinState:
    """Everything the app reads and changes at run time, guarded by one lock."""

    def __init__(self, config: StandinConfig | None = None) -> None:
        config = config or StandinConfig()
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.latency_ms = config.latency_ms
        self.hang_seconds = config.hang_seconds
        self.api_key = config.api_key
        self.job_step_seconds = config.job_step_seconds
        self.max_in_flight = config.max_in_flight
        self.models: list[str] = list(config.models)
        self.fine_tuned_models: list[str] = []
        # Each fault with how many requests it has hit so far.
        self.faults: list[list[Any]] = [[rule, 0] for rule in config.faults]
        self.requests: deque[dict[str, Any]] = deque(maxlen=config.request_log_keep)
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.chat_in_flight = 0
        self.chat_peak_in_flight = 0
        # Cleared while chat answers are held (StandinServer.hold_answers).
        self.answers_open = threading.Event()
        self.answers_open.set()
        # Fine-tuning objects, filled by redraft.standin.finetune.
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}

    # -- request log -------------------------------------------------------------------

    def log_request(self, method: str, path: str, body: Any) -> None:
        """Count one request and keep it in the log (the most recent request_log_keep only)."""
        with self.lock:
            self.requests.append({"method": method, "path": path, "json": body})
            self.request_counts[method, path] += 1

    def request_log(self) -> list[dict[str, Any]]:
        """A copy of the request log: the most recent requests (request_log_keep), oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.requests]

    def request_count(self, path: str) -> int:
        """How many requests reached `path` (exact, however long the server ran)."""
        with self.lock:
            return sum(n for (_, p), n in self.request_counts.items() if p == path)

    def total_requests(self) -> int:
        """How many logged requests arrived in all (control routes are not logged)."""
        with self.lock:
            return sum(self.request_counts.values())

    def clear_requests(self) -> None:
        """Forget the request log and its counts; restart the peak from what is in flight."""
        with self.lock:
            self.requests.clear()
            self.request_counts.clear()
            self.chat_peak_in_flight = self.chat_in_flight

    # -- chat requests in flight ---------------------------------------------------------

    def chat_started(self) -> bool:
        """Count a chat completion in flight; False when it is over max_in_flight (it is
        counted anyway: call chat_finished either way)."""
        with self.lock:
            self.chat_in_flight += 1
            self.chat_peak_in_flight = max(self.chat_peak_in_flight, self.chat_in_flight)
            return not self.max_in_flight or self.chat_in_flight <= self.max_in_flight

    def chat_finished(self) -> None:
        """A chat completion answered (or failed)."""
        with self.lock:
            self.chat_in_flight -= 1

    def reset_peak_in_flight(self) -> None:
        """Restart the peak from the number in flight now."""
        with self.lock:
            self.chat_peak_in_flight = self.chat_in_flight

    # -- models ------------------------------------------------------------------------

    def has_model(self, model: str) -> bool:
        """Whether `model` is served."""
        with self.lock:
            return model in self.models or model in self.fine_tuned_models

    def add_fine_tuned_model(self, model: str) -> None:
        """Serve a newly fine-tuned model."""
        with self.lock:
            if model not in self.fine_tuned_models:
                self.fine_tuned_models.append(model)

    # -- faults ------------------------------------------------------------------------

    def add_fault(self, rule: FaultRule) -> None:
        """Append a fault rule (rules are tried in order)."""
        with self.lock:
            self.faults.append([rule, 0])

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self.lock:
            self.faults = []

    def take_fault(
        self, text: str, kinds: Iterable[str], model: str | None = None
    ) -> FaultRule | None:
        """The first rule of `kinds` matching `text` (and `model`, for a rule that names one)
        that has hits left; counts the hit."""
        allowed = set(kinds)
        with self.lock:
            for entry in self.faults:
                rule, hits = entry
                if rule.kind not in allowed:
                    continue
                if rule.match is not None and rule.match not in text:
                    continue
                if rule.model is not None and (model is None or rule.model not in model):
                    continue
                if rule.times is not None and hits >= rule.times:
                    continue
                entry[1] = hits + 1
                return rule
        return None

    # -- config over HTTP --------------------------------------------------------------

    def config_dict(self) -> dict[str, Any]:
        """The current configuration as JSON (the API key is never included)."""
        with self.lock:
            return {
                "latency_ms": self.latency_ms,
                "models": list(self.models),
                "fine_tuned_models": list(self.fine_tuned_models),
                "faults": [{**asdict(rule), "hits": hits} for rule, hits in self.faults],
                "hang_seconds": self.hang_seconds,
                "api_key_required": self.api_key is not None,
                "job_step_seconds": self.job_step_seconds,
                "max_in_flight": self.max_in_flight,
            }

    def apply_config(self, data: Mapping[str, Any]) -> None:
        """Change settings from a JSON object; raises ValueError naming a bad key or value.

        Keys: latency_ms, hang_seconds, job_step_seconds, max_in_flight, models, faults
        (replaces the list), add_faults (appends), clear_faults (true empties the list).
        """
        allowed = {
            "max_in_flight",
            "latency_ms",
            "hang_seconds",
            "job_step_seconds",
            "models",
            "faults",
            "add_faults",
            "clear_faults",
        }
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"unknown config {noun(len(unknown), 'key')}: {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        updates: dict[str, Any] = {}
        for key in ("latency_ms", "hang_seconds", "job_step_seconds", "max_in_flight"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0, got {value!r}")
                whole = key in ("latency_ms", "max_in_flight")
                updates[key] = int(value) if whole else float(value)
        if "models" in data:
            models = data["models"]
            if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
                raise ValueError("models must be a list of non-empty strings")
            updates["models"] = list(models)
        replace_faults = _rules(data.get("faults"), "faults") if "faults" in data else None
        add_faults = _rules(data.get("add_faults"), "add_faults") if "add_faults" in data else []
        with self.lock:
            for key, value in updates.items():
                setattr(self, key, value)
            if data.get("clear_faults"):
                self.faults = []
            if replace_faults is not None:
                self.faults = [[rule, 0] for rule in replace_faults]
            self.faults.extend([rule, 0] for rule in add_faults)


def _rules(value: Any, key: str) -> list[FaultRule]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{key} must be a list of fault rule objects")
    try:
        return [FaultRule.from_dict(item) for item in value]
    except TypeError as exc:
        raise ValueError(f"{key}: {exc}") from None
