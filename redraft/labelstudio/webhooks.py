"""The project webhook redraft owns: annotation events to the backend's `/webhook`, with the
secret header (and basic auth when the backend has it).

Connecting an ML backend makes Label Studio create a webhook of its own to the same URL, with
no headers, so the backend cannot tell it from a stranger's and refuses it. redraft does not
touch that one; it creates its own beside it, recognised by the secret header, and keeps it
current on every `redraft init`. `plan_webhook` is pure; `sync_webhook` applies it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import LabelStudioError
from redraft.settings import Settings
from redraft.webhook import WEBHOOK_SECRET_HEADER, webhook_secret

# What auto mode counts (backend/model.py RECORDED_EVENTS, less the project's own events).
ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")


@dataclass(frozen=True)
class WebhookSpec:
    """The webhook redraft wants on a project."""

    backend_url: str
    secret: str = field(repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.backend_url.rstrip("/") + "/webhook"

    def headers(self) -> dict[str, str]:
        headers = {WEBHOOK_SECRET_HEADER: self.secret}
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def fields(self) -> dict[str, Any]:
        """The webhook fields redraft manages."""
        return {
            "url": self.url,
            "send_payload": True,
            "send_for_all_actions": False,
            "actions": list(ACTIONS),
            "headers": self.headers(),
            "is_active": True,
        }


def webhook_spec(settings: Settings, backend_url: str) -> WebhookSpec:
    """The webhook for the backend at `backend_url`, with the secret it requires."""
    auth = None
    if settings.basic_auth_user and settings.basic_auth_password:
        auth = (settings.basic_auth_user, settings.basic_auth_password)
    return WebhookSpec(backend_url, webhook_secret(settings), auth)


@dataclass(frozen=True)
class WebhookPlan:
    """Create a webhook, or change fields of redraft's existing one (nothing when equal)."""

    webhook_id: int | None
    changes: dict[str, Any] = field(repr=False)

    def describe(self, spec: WebhookSpec) -> list[str]:
        if self.webhook_id is None:
            return [f"create webhook {spec.url} (annotation events, with the secret header)"]
        return [
            f"set webhook {name} = ***" if name == "headers" else f"set webhook {name}"
            for name in self.changes
        ]


def plan_webhook(spec: WebhookSpec, webhooks: Sequence[Mapping[str, Any]]) -> WebhookPlan:
    """Compare the project's webhooks with the spec.

    >>> spec = WebhookSpec("http://b:9090/", "s3cret")
    >>> plan_webhook(spec, []).webhook_id is None
    True
    >>> theirs = {"id": 1, "url": "http://b:9090/webhook", "headers": {}}  # Label Studio's own
    >>> ours = {"id": 2, **spec.fields()}
    >>> plan_webhook(spec, [theirs, ours])
    WebhookPlan(webhook_id=2)
    >>> plan_webhook(spec, [theirs, {**ours, "actions": ["ANNOTATION_CREATED"]}]).changes
    {'actions': ['ANNOTATION_CREATED', 'ANNOTATIONS_CREATED', 'ANNOTATION_UPDATED', \
'ANNOTATIONS_DELETED']}
    """
    wanted = spec.fields()
    ours = next(
        (
            hook
            for hook in webhooks
            if str(hook.get("url", "")).rstrip("/") == spec.url
            and WEBHOOK_SECRET_HEADER in (hook.get("headers") or {})
        ),
        None,
    )
    if ours is None:
        return WebhookPlan(None, wanted)
    changes = {}
    for name, value in wanted.items():
        current = ours.get(name)
        if name == "actions":
            current, value = sorted(current or []), value
            if current != sorted(value):
                changes[name] = value
        elif current != value:
            changes[name] = value
    return WebhookPlan(int(ours["id"]), changes)


def sync_webhook(
    client: LabelStudio, project_id: int | None, spec: WebhookSpec, *, dry_run: bool = False
) -> list[str]:
    """Create or update redraft's webhook on the project; the lines that say what changed."""
    hooks = _project_webhooks(client, project_id) if project_id is not None else []
    plan = plan_webhook(spec, hooks)
    if not plan.changes:
        return []
    if dry_run or project_id is None:
        return plan.describe(spec)
    try:
        if plan.webhook_id is None:
            client.webhooks.create(project=project_id, **plan.changes)
        else:
            client.webhooks.update(plan.webhook_id, **plan.changes)
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio refused the webhook to {spec.url} (HTTP {exc.status_code}) — is the "
            "backend URL reachable from Label Studio (ML_BLOCK_LOCAL_IP / SSRF settings for "
            "local addresses)?"
        ) from None
    return plan.describe(spec)


def _project_webhooks(client: LabelStudio, project_id: int) -> list[dict[str, Any]]:
    hooks = [hook.model_dump() for hook in client.webhooks.list(project=str(project_id))]
    return [hook for hook in hooks if hook.get("project") in (project_id, None)]
