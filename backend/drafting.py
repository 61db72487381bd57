"""Drafting: task → messages → (cache or model) → text, fanned out over a bounded thread pool.

Every model call, from any request, holds one of its endpoint's slots while in flight; how many
slots an endpoint gets, and how long a call may take, is learned from its answers
(`pacing.Pace`, at most `max_concurrency`). Independent of Flask: `redraft prefill` reuses
`Drafter.draft_many` with the same outcomes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import openai

from redraft.backend.cache import DraftCache, cache_key
from redraft.backend.fairpool import FairPool
from redraft.backend.pacing import PARALLEL_HEADER, Pace
from redraft.backend.versions import ActiveModel
from redraft.errors import TaskDataError, TemplateError
from redraft.openai_client import openai_client
from redraft.prompting import (
    LearnedNote,
    Message,
    PromptTemplate,
    build_messages,
    load_template,
    template_file,
)
from redraft.scoring.confidence import Signals, draft_signals, token_confidence
from redraft.settings import Settings
from redraft.wording import counted

logger = logging.getLogger(__name__)

CLAIM_POLL_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 30.0
PROBE_SECONDS = 5.0  # asking a new endpoint how many requests it runs at once

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TaskId = int | str | None
OnDone = Callable[["DraftOutcome"], None]


@dataclass(frozen=True)
class DraftOutcome:
    """What drafting one task produced: `text`, or `error` (a short reason) and its kind."""

    task_id: TaskId
    text: str | None
    error: str | None = None
    cached: bool = False
    error_kind: str | None = None  # timeout, deadline, rate_limit, server_error, ...
    truncated: bool = False  # the model stopped at max_tokens (finish_reason "length")
    # What the draft's confidence score is made of; derived from the draft, so not compared.
    signals: Signals | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.text is not None


class EmptyDraftError(Exception):
    """The model answered with no text."""


@dataclass(frozen=True)
class _Job:
    index: int
    task_id: TaskId
    messages: list[Message]
    key: str
    data: Mapping[str, Any]
    notes: tuple[LearnedNote, ...]


@dataclass(frozen=True)
class Completion:
    """One model answer: the text, whether it stopped at max_tokens, its token confidence
    (None where the endpoint gave no log-probabilities) and the parallelism it advertised."""

    text: str
    truncated: bool = False
    token_confidence: float | None = None
    parallel: int | None = None


class Drafter:
    """Drafts tasks with the active model; owns its clients, thread pool and the cache given."""

    def __init__(
        self,
        settings: Settings,
        *,
        template: PromptTemplate | None = None,
        cache: DraftCache | None = None,
        adaptive: bool = True,
    ) -> None:
        self.settings = settings
        self.adaptive = adaptive
        self.template = template if template is not None else load_template(settings.template_path)
        self._templates: dict[str, PromptTemplate] = {}
        self.cache = cache
        self._clients: dict[tuple[str, str], openai.OpenAI] = {}
        self._clients_lock = threading.Lock()
        # Each endpoint's pace bounds its model calls; the pool supplies threads and shares
        # them fairly between requests, so a small request (an annotator opening a task) is
        # drafted within its deadline while a bulk retrieve drains its backlog.
        self._paces: dict[str, Pace] = {}
        self._paces_lock = threading.Lock()
        # Endpoints that refused `logprobs` (HTTP 400/422): asked without it from then on.
        self._no_logprobs: set[str] = set()
        self._pool = FairPool(settings.max_concurrency, name="redraft-draft")

    @classmethod
    def from_settings(cls, settings: Settings) -> Drafter:
        """A drafter with the template and (when enabled) the cache that settings name."""
        cache = DraftCache(settings.cache_path) if settings.cache_enabled else None
        return cls(settings, cache=cache)

    def template_for(self, active: ActiveModel) -> PromptTemplate:
        """The version's own template (`styles apply`, or the style notes of the export it
        trained on), else the settings' template; on another host than the one that wrote it,
        a copy under REDRAFT_HOME/templates.

        Raises TemplateError when the version's template file is gone or broken.
        """
        if not active.template_path:
            return self.template
        with self._clients_lock:
            template = self._templates.get(active.template_path)
            if template is None:
                template = load_template(template_file(active.template_path, self.settings.home))
                self._templates[active.template_path] = template
            return template

    def base_url_for(self, active: ActiveModel) -> str:
        """The active model's endpoint: its own base URL, else OPENAI_BASE_URL, else OpenAI."""
        return active.base_url or self.settings.openai_base_url or DEFAULT_BASE_URL

    def pace_for(self, active: ActiveModel) -> Pace:
        """The pace of the active model's endpoint (one per base URL, shared by all callers).

        A new endpoint is asked its model list once first: a server that says how many
        requests it runs at once (`X-Redraft-Parallel`) then gets no more from the start."""
        base_url = self.base_url_for(active)
        with self._paces_lock:  # one probe per endpoint; later callers wait for it
            pace = self._paces.get(base_url)
            if pace is not None:
                return pace
            parallel = self._advertised_parallel(active) if self.adaptive else None
            pace = Pace(
                self.settings.max_concurrency,
                fixed_timeout=self.settings.request_timeout,
                adaptive=self.adaptive,
            )
            if parallel is not None:
                pace.advertise(parallel)
            self._paces[base_url] = pace
            return pace

    def _advertised_parallel(self, active: ActiveModel) -> int | None:
        """What the endpoint says it runs at once, from one short `GET /models`; None when it
        says nothing or does not answer in time (drafting then learns it from its answers)."""
        try:
            raw = self.client_for(active).models.with_raw_response.list(timeout=PROBE_SECONDS)
        except openai.OpenAIError:
            return None
        return _parallel(raw.headers.get(PARALLEL_HEADER))

    def client_for(self, active: ActiveModel) -> openai.OpenAI:
        """The OpenAI client for the active model's endpoint, built once per (base URL, key)."""
        base_url = self.base_url_for(active)
        api_key = active.api_key or self.settings.openai_api_key or ""
        with self._clients_lock:
            client = self._clients.get((base_url, api_key))
            if client is None:
                client = openai_client(
                    self.settings, base_url=base_url, api_key=api_key, max_retries=0
                )
                self._clients[(base_url, api_key)] = client
            return client

    def draft_many(
        self,
        tasks: Sequence[Mapping[str, Any]],
        active: ActiveModel,
        *,
        on_done: OnDone | None = None,
        deadline: float | None = None,
    ) -> list[DraftOutcome]:
        """Draft Label Studio tasks ({"id", "data"}); one outcome per task, in task order.

        Cache hits and bad tasks are answered at once; the rest go to the model, at most
        `max_concurrency` calls in flight across all callers. A failing task never stops the
        others. With `deadline` (seconds), tasks still drafting by then fail with "deadline
        exceeded"; their calls run on and store the draft in the cache for the next request.
        `on_done` is called in the caller's thread as each outcome is ready (progress bars).
        """
        outcomes: list[DraftOutcome | None] = [None] * len(tasks)
        jobs: list[_Job] = []
        base_url = self.base_url_for(active)
        try:
            template = self.template_for(active)
        except TemplateError as exc:
            reason = f"model version {active.name}: {exc}"
            return [self._failed(_task_id(task), reason, "template") for task in tasks]

        def finish(index: int, outcome: DraftOutcome) -> None:
            outcomes[index] = outcome
            if on_done is not None:
                on_done(outcome)

        for index, task in enumerate(tasks):
            task_id = _task_id(task)
            try:
                messages = _task_messages(task, template)
            except TaskDataError as exc:
                finish(index, self._failed(task_id, str(exc), "bad_task"))
                continue
            s = self.settings
            key = cache_key(base_url, active.model_id, messages, s.temperature, s.max_tokens)
            data = task["data"]  # _task_messages checked it is a mapping
            notes = template.client_style(_client_of(data)).learned
            job = _Job(index, task_id, messages, key, data, notes)
            hit = self._cached(job)
            if hit is not None:
                finish(index, hit)
            else:
                jobs.append(job)

        if jobs:
            client = self.client_for(active)
            self.pace_for(active)  # a new endpoint is asked its parallelism here, once
            lane = self._pool.submit_lane(
                [partial(self._draft_job, client, active, job) for job in jobs]
            )
            futures: dict[Future[DraftOutcome], _Job] = dict(zip(lane, jobs, strict=True))
            try:
                for future in as_completed(futures, timeout=deadline):
                    finish(futures[future].index, future.result())
            except TimeoutError:
                late = [job for job in jobs if outcomes[job.index] is None]
                logger.warning(
                    "%s without a draft — deadline exceeded (%gs); their drafts go to "
                    "the cache when they finish: tasks %s",
                    counted(len(late), "task"),
                    deadline,
                    ", ".join(str(job.task_id) for job in late[:20]) + (" …" if late[20:] else ""),
                )
                reason = f"deadline exceeded: no draft within the {deadline:g}s request deadline"
                for job in late:
                    finish(
                        job.index, DraftOutcome(job.task_id, None, reason, error_kind="deadline")
                    )
        assert all(o is not None for o in outcomes), "every task gets exactly one outcome"
        return outcomes  # type: ignore[return-value]

    def _draft_job(self, client: openai.OpenAI, active: ActiveModel, job: _Job) -> DraftOutcome:
        if self.cache is None:
            return self._call_model(client, active, job)
        # Someone else (another request, `prefill`, the backend) may be drafting the same
        # prompt right now: wait for their draft rather than pay for it twice.
        give_up = time.monotonic() + self._claim_seconds()
        while True:
            hit = self._cached(job)
            if hit is not None:
                return hit
            if self.cache.claim(job.key, stale_after=self._claim_seconds()):
                try:
                    return self._call_model(client, active, job)
                finally:
                    self.cache.release(job.key)
            if time.monotonic() > give_up:
                return self._failed(job.task_id, "another drafter held it too long", "timeout")
            time.sleep(CLAIM_POLL_SECONDS)

    def _claim_seconds(self) -> float:
        """How long one draft may take, retries included: a claim older than this is stale."""
        return self.settings.call_timeout * (self.settings.max_retries + 1) + 5.0

    def _call_model(self, client: openai.OpenAI, active: ActiveModel, job: _Job) -> DraftOutcome:
        # An earlier request (one past its deadline, say) may have drafted it meanwhile.
        hit = self._cached(job)
        if hit is not None:
            return hit
        pace = self.pace_for(active)
        try:
            done = self._complete_paced(client, active, job.messages, pace)
        except openai.APITimeoutError:
            return self._failed(job.task_id, f"no answer within {pace.timeout():g}s", "timeout")
        except openai.RateLimitError:
            reason = "rate limited (HTTP 429), retries used up"
            return self._failed(job.task_id, reason, "rate_limit")
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                return self._failed(
                    job.task_id, f"model server error (HTTP {exc.status_code})", "server_error"
                )
            if exc.status_code == 404:
                reason = f"model {active.model_id!r} not found at the endpoint (HTTP 404)"
            elif exc.status_code in (401, 403):
                reason = f"the endpoint refused the API key (HTTP {exc.status_code})"
            else:
                reason = f"the endpoint rejected the request (HTTP {exc.status_code})"
            return self._failed(job.task_id, reason, "http_error")
        except openai.APIConnectionError:
            return self._failed(job.task_id, "cannot connect to the model endpoint", "connection")
        except EmptyDraftError:
            return self._failed(job.task_id, "the model returned an empty answer", "empty")
        except Exception:
            logger.exception("task %s: unexpected error while drafting", job.task_id)
            return DraftOutcome(job.task_id, None, "internal error", error_kind="internal")
        if self.cache is not None:
            self.cache.put(
                job.key,
                active.model_id,
                done.text,
                token_confidence=done.token_confidence,
                truncated=done.truncated,
            )
        logger.debug("task %s: draft %r", job.task_id, done.text)
        signals = draft_signals(
            done.text, job.data, job.notes, done.token_confidence, done.truncated
        )
        return DraftOutcome(job.task_id, done.text, truncated=done.truncated, signals=signals)

    def _cached(self, job: _Job) -> DraftOutcome | None:
        """The cached draft of a job, with its signals (token confidence as stored), or None."""
        if self.cache is None:
            return None
        text = self.cache.get(job.key)
        if text is None:
            return None
        token_conf, truncated = self.cache.signals(job.key)
        signals = draft_signals(text, job.data, job.notes, token_conf, truncated)
        return DraftOutcome(job.task_id, text, cached=True, truncated=truncated, signals=signals)

    def _complete_paced(
        self, client: openai.OpenAI, active: ActiveModel, messages: list[Message], pace: Pace
    ) -> Completion:
        """One draft (and whether it stopped at max_tokens) within the endpoint's pace; 429s,
        timeouts, 5xx and lost connections are retried (REDRAFT_MAX_RETRIES) after a back-off,
        and 429s and timeouts slow the pace."""
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            with pace.hold():
                started, timeout = time.monotonic(), pace.timeout()
                try:
                    done = self._complete(client, active, messages, timeout)
                except (openai.RateLimitError, openai.APITimeoutError) as exc:
                    if isinstance(exc, openai.APITimeoutError):
                        pace.timed_out(started, timeout)
                    else:
                        pace.overloaded(started)
                    if attempt + 1 == attempts:
                        raise
                    wait = _backoff(attempt, exc)
                except openai.APIConnectionError as exc:  # includes timeouts, handled above
                    if attempt + 1 == attempts:
                        raise
                    wait = _backoff(attempt, exc)
                except openai.InternalServerError as exc:
                    if attempt + 1 == attempts:
                        raise
                    wait = _backoff(attempt, exc)
                else:
                    pace.succeeded(time.monotonic() - started, done.parallel)
                    return done
            time.sleep(wait)  # outside the slot: a waiting retry holds no endpoint capacity
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _complete(
        self, client: openai.OpenAI, active: ActiveModel, messages: list[Message], timeout: float
    ) -> Completion:
        """One answer: text, whether it stopped at max_tokens, token confidence, parallelism.

        Log-probabilities are asked for (`logprobs`, one top token: llama-cpp-python computes
        none without `top_logprobs`) until an endpoint refuses them with HTTP 400 or 422; it is
        then asked without them, at once and from then on."""
        base_url = self.base_url_for(active)
        extra: dict[str, Any] = {}
        if base_url not in self._no_logprobs:
            extra = {"logprobs": True, "top_logprobs": 1}
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=active.model_id,
                messages=messages,  # type: ignore[arg-type]
                temperature=self.settings.temperature,
                max_tokens=self.settings.max_tokens,
                timeout=timeout,
                **extra,
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError):
            if not extra:
                raise
            with self._clients_lock:
                first = base_url not in self._no_logprobs
                self._no_logprobs.add(base_url)
            if first:
                logger.info(
                    "the endpoint refused log-probabilities; drafts are scored without them"
                )
            return self._complete(client, active, messages, timeout)
        response = raw.parse()
        choice = response.choices[0] if response.choices else None
        text = ((choice.message.content if choice else None) or "").strip()
        if not text:
            raise EmptyDraftError
        return Completion(
            text,
            truncated=choice is not None and choice.finish_reason == "length",
            token_confidence=_token_confidence(choice),
            parallel=_parallel(raw.headers.get(PARALLEL_HEADER)),
        )

    @staticmethod
    def _failed(task_id: TaskId, reason: str, kind: str) -> DraftOutcome:
        logger.warning("task %s: no draft — %s", task_id, reason)
        return DraftOutcome(task_id, None, reason, error_kind=kind)

    def close(self) -> None:
        """Stop the pools (waiting for calls in flight), close the HTTP clients and the cache."""
        self._pool.shutdown(cancel=True)
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if self.cache is not None:
            self.cache.close()


def _token_confidence(choice: Any) -> float | None:
    """exp(mean log-probability) of a choice's tokens, None when it carries none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    values = [t.logprob for t in content if isinstance(getattr(t, "logprob", None), (int, float))]
    return token_confidence(values)


def _client_of(data: Mapping[str, Any]) -> str | None:
    client = data.get("client")
    return client if isinstance(client, str) else None


def _parallel(header: str | None) -> int | None:
    """The server's advertised parallelism, when the header holds a whole number ≥ 1."""
    try:
        value = int(header) if header else None
    except ValueError:
        return None
    return value if value is not None and value >= 1 else None


def _backoff(attempt: int, exc: Exception) -> float:
    """Seconds before retry `attempt + 1`: the server's Retry-After, else exponential, jittered."""
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("retry-after") if response is not None else None
    try:
        wait = float(retry_after) if retry_after else 0.5 * 2**attempt
    except ValueError:
        wait = 0.5 * 2**attempt
    return min(MAX_BACKOFF_SECONDS, wait) * random.uniform(1.0, 1.25)


def _task_id(task: object) -> TaskId:
    return task.get("id") if isinstance(task, Mapping) else None


def _task_messages(task: object, template: PromptTemplate) -> list[Message]:
    """Messages for one Label Studio task, or TaskDataError when it has no usable data."""
    data = task.get("data") if isinstance(task, Mapping) else None
    if not isinstance(data, Mapping):
        raise TaskDataError("task has no `data` object")
    return build_messages(data, template)
