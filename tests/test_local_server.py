"""`redraft local serve`'s front over the real llama-cpp-python server and SmolLM2-135M."""

from __future__ import annotations

import threading
from pathlib import Path

import openai
import pytest

from redraft.local.base import BUNDLED_MODEL_ID, bundled_gguf
from redraft.local.catalog import ask_reload, ensure_served, listed_models
from redraft.local.server import LocalServer, ServedModel

pytestmark = pytest.mark.local

MESSAGES = [
    {"role": "system", "content": "You write short outreach emails."},
    {"role": "user", "content": "Invite Maria at Brightline to a 20-minute walkthrough."},
]


def test_a_reload_serves_the_new_list_without_failing_a_request_in_flight(tmp_path: Path) -> None:
    gguf = bundled_gguf()
    models = [ServedModel(BUNDLED_MODEL_ID, gguf)]
    server = LocalServer(lambda: list(models), workdir=tmp_path, poll_seconds=3600)
    with server:
        client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0, timeout=300)
        answers: list[str] = []

        def long_draft() -> None:
            response = client.chat.completions.create(
                model=BUNDLED_MODEL_ID, messages=MESSAGES, temperature=0, max_tokens=160
            )
            answers.append(response.choices[0].message.content or "")

        in_flight = threading.Thread(target=long_draft)
        in_flight.start()
        models.append(ServedModel("second-name", gguf))
        assert ask_reload(server.url) == [BUNDLED_MODEL_ID, "second-name"]
        in_flight.join()
        assert len(answers) == 1 and answers[0].strip(), "the request in flight was answered"

        # The new id answers with the same weights; the reload changed nothing else.
        again = client.chat.completions.create(
            model="second-name", messages=MESSAGES, temperature=0, max_tokens=160
        )
        assert again.choices[0].message.content == answers[0]
        assert listed_models(server.url) == [BUNDLED_MODEL_ID, "second-name"]
        assert ask_reload(server.url) == [BUNDLED_MODEL_ID, "second-name"]  # no change, no restart

        # llama-cpp-python would answer an unknown id with its first model; the front refuses.
        with pytest.raises(openai.NotFoundError) as refused:
            client.chat.completions.create(model="v9", messages=MESSAGES, max_tokens=5)
        assert refused.value.body == {
            "message": f"model 'v9' is not served here (serving: {BUNDLED_MODEL_ID}, "
            "second-name) — train it with `redraft train trl`, or check `redraft models list`",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
        assert ensure_served(server.url, "v9") is False
    assert listed_models(server.url, timeout=1) is None  # stopped: nothing answers


def test_another_base_model_from_a_hugging_face_folder_is_converted_and_served(
    tmp_path: Path,
) -> None:
    from redraft.local.base import resolve_base, trainable_dir
    from redraft.local.catalog import served_models
    from redraft.settings import Settings

    # An HF folder a user might have: here SmolLM2 itself, dequantised to float32.
    folder = trainable_dir(resolve_base(None), tmp_path / "models")
    named = folder.rename(tmp_path / "My-Model")
    settings = Settings(home=tmp_path / "home", local_model=str(named)).with_overrides(
        llama_cpp_sdist=_sdist()
    )
    (served,) = served_models(settings)
    assert (served.model_id, served.lora) == ("my-model", None)
    assert served.gguf == settings.models_dir / "my-model" / "my-model.f16.gguf"
    with LocalServer(lambda: served_models(settings), workdir=tmp_path / "run") as server:
        client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0, timeout=300)
        response = client.chat.completions.create(
            model="my-model", messages=MESSAGES, temperature=0, max_tokens=40
        )
        assert (response.choices[0].message.content or "").strip()


def _sdist() -> Path | None:
    import os

    value = os.environ.get("REDRAFT_LLAMA_CPP_SDIST")
    return Path(value) if value else None
