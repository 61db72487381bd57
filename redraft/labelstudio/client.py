"""Label Studio clients through label-studio-sdk, for legacy tokens and personal access tokens.

The 2.x SDK takes either kind as `api_key`: a JWT refresh token (a personal access token) is
exchanged for short-lived access tokens and sent as `Bearer`; anything else is sent as a legacy
`Token`. Nothing here logs a token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import LabelStudioError
from redraft.settings import Settings
from redraft.urls import shown_url

logger = logging.getLogger(__name__)


def connect(
    url: str, api_key: str, *, timeout: float = 120, http: httpx.Client | None = None
) -> LabelStudio:
    """An SDK client for url; checks the server and the token once, with a clear error.

    Pass `http` to own the connection pool (and close it); `session` does that for you.
    """
    client = LabelStudio(
        base_url=url.rstrip("/"), api_key=api_key, timeout=timeout, httpx_client=http
    )
    url = shown_url(url)  # only messages use it from here on
    try:
        client.users.whoami()
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise LabelStudioError(
                f"Label Studio at {url} refused the API key (HTTP {exc.status_code}) — copy a "
                "personal access token from Account & Settings and set LABEL_STUDIO_API_KEY"
            ) from None
        raise LabelStudioError(f"Label Studio at {url} answered HTTP {exc.status_code}") from None
    except Exception as exc:  # httpx transport errors, refused connections
        raise LabelStudioError(
            f"cannot reach Label Studio at {url} ({type(exc).__name__}) — is it running? "
            "Set LABEL_STUDIO_URL to its address"
        ) from None
    return client


@contextmanager
def session(url: str, api_key: str, *, timeout: float = 120) -> Iterator[LabelStudio]:
    """A checked SDK client whose connections are closed when the block ends."""
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        yield connect(url, api_key, timeout=timeout, http=http)


def session_from_settings(settings: Settings) -> AbstractContextManager[LabelStudio]:
    """`session` for settings.label_studio_url with LABEL_STUDIO_API_KEY."""
    return session(settings.label_studio_url, settings.require_label_studio_key())


def create_personal_access_token(client: LabelStudio) -> str:
    """Create a personal access token (JWT refresh token) for the client's user."""
    try:
        created = client.tokens.create()
    except ApiError as exc:
        if exc.status_code == 409:
            raise LabelStudioError(
                "this user already has a personal access token — copy it from Account & "
                "Settings, or revoke it there and try again"
            ) from None
        raise LabelStudioError(
            f"Label Studio refused to create a personal access token (HTTP {exc.status_code}) "
            "— enable personal access tokens under Organization → Access Token Settings"
        ) from None
    token = getattr(created, "token", None)
    if not token:
        raise LabelStudioError("Label Studio answered the token request without a token")
    return str(token)


def project_tasks(
    client: LabelStudio,
    project_id: int,
    *,
    fields: Literal["all", "task_only"] = "all",
    filters: Mapping[str, Any] | None = None,
    page_size: int = 500,
) -> Iterator[dict[str, Any]]:
    """Every task of a project as a plain JSON dict, page by page — the one way redraft lists
    tasks. `fields="all"` includes annotations and whole predictions; `"task_only"` is id and
    data (much faster on big projects); `filters` is a Data Manager filter query."""
    query = json.dumps({"filters": filters}) if filters is not None else None
    for task in client.tasks.list(
        project=project_id, fields=fields, query=query, page_size=page_size
    ):
        yield task.model_dump(mode="json")
