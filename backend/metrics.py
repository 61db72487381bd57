"""Thread-safe counters for GET /metrics (JSON, or Prometheus text)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from redraft.backend.drafting import DraftOutcome


class Metrics:
    """Request, draft, cache and failure counters shared by the app's worker threads."""

    def __init__(self, *, cache_enabled: bool) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.cache_enabled = cache_enabled
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.drafts: Counter[str] = Counter()
        self.cache: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()

    def count_request(self, endpoint: str, status: int) -> None:
        """Count one HTTP request by endpoint and one response by status code."""
        with self._lock:
            self.requests[endpoint] += 1
            self.responses[str(status)] += 1

    def count_outcomes(self, outcomes: Iterable[DraftOutcome]) -> None:
        """Count tasks, drafts, cache hits/misses and failures (by kind) from /predict."""
        with self._lock:
            for outcome in outcomes:
                self.drafts["tasks"] += 1
                if outcome.cached:
                    self.cache["hits"] += 1
                    self.drafts["cached"] += 1
                    continue
                if outcome.error_kind != "bad_task":
                    self.cache["misses"] += 1
                if outcome.ok:
                    self.drafts["generated"] += 1
                else:
                    self.drafts["failed"] += 1
                    self.failures[outcome.error_kind or "unknown"] += 1

    def count_webhook(self, action: str) -> None:
        """Count one webhook event by action."""
        with self._lock:
            self.webhooks[action] += 1

    def snapshot(self) -> dict[str, Any]:
        """All counters as plain JSON-ready dicts."""
        with self._lock:
            return {
                "uptime_s": round(time.monotonic() - self._started, 3),
                "requests": dict(self.requests),
                "responses": dict(self.responses),
                "drafts": {k: self.drafts[k] for k in ("tasks", "generated", "cached", "failed")},
                "cache": {
                    "enabled": self.cache_enabled,
                    "hits": self.cache["hits"],
                    "misses": self.cache["misses"],
                },
                "failures": dict(self.failures),
                "webhooks": dict(self.webhooks),
            }

    def prometheus(self) -> str:
        """The counters in Prometheus text exposition format."""
        snap = self.snapshot()
        lines = [f"redraft_uptime_seconds {snap['uptime_s']}"]
        for endpoint, n in sorted(snap["requests"].items()):
            lines.append(f'redraft_requests_total{{endpoint="{endpoint}"}} {n}')
        for status, n in sorted(snap["responses"].items()):
            lines.append(f'redraft_responses_total{{status="{status}"}} {n}')
        for kind, n in snap["drafts"].items():
            lines.append(f'redraft_drafts_total{{outcome="{kind}"}} {n}')
        lines.append(f"redraft_cache_hits_total {snap['cache']['hits']}")
        lines.append(f"redraft_cache_misses_total {snap['cache']['misses']}")
        for kind, n in sorted(snap["failures"].items()):
            lines.append(f'redraft_failures_total{{kind="{kind}"}} {n}')
        for action, n in sorted(snap["webhooks"].items()):
            lines.append(f'redraft_webhooks_total{{action="{action}"}} {n}')
        return "\n".join(lines) + "\n"
