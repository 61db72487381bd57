"""`redraft local serve`'s front over the real model servers (llama-server, built by ./dev, and
llama-cpp-python's, the fallback) and SmolLM2-135M."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import openai
import pytest

from redraft.local.base import BUNDLED_MODEL_ID, bundled_gguf
from redraft.local.catalog import ask_reload, ensure_served, listed_models
from redraft.local.server import (
    LLAMA_SERVER_ENV,
    Engine,
    LocalServer,
    ServedModel,
    find_engine,
    python_engine,
)

pytestmark = pytest.mark.local

MESSAGES = [
    {"role": "system", "content": "You write short outreach emails."},
    {"role": "user", "content": "Invite Maria at Brightline to a 20-minute walkthrough."},
]


# Where ./dev builds llama-server (build_llama_server), for when REDRAFT_LLAMA_SERVER_BIN is unset.
DEV_BUILD = Path(__file__).parents[1] / ".cache" / "llama-server-0.3.36" / "llama-server"


@pytest.fixture(params=["llama-cpp-python", "llama-server"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each model server: llama-cpp-python's (as many processes as `redraft local serve`
    starts on this machine), and llama-server where ./dev built it."""
    if request.param == "llama-cpp-python":
        return python_engine()
    if not os.environ.get(LLAMA_SERVER_ENV) and not DEV_BUILD.is_file():
        pytest.skip(f"no llama-server: {LLAMA_SERVER_ENV} is not set and ./dev built none")
    return find_engine(None if os.environ.get(LLAMA_SERVER_ENV) else DEV_BUILD)


def test_a_reload_serves_the_new_list_without_failing_a_request_in_flight(
    tmp_path: Path, engine: Engine
) -> None:
    gguf = bundled_gguf()
    models = [ServedModel(BUNDLED_MODEL_ID, gguf)]
    server = LocalServer(lambda: list(models), workdir=tmp_path, poll_seconds=3600, engine=engine)
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

        # Both servers would answer an unknown id with the base model; the front refuses.
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


def test_llama_cpp_python_processes_decode_at_once_and_write_what_one_process_writes(
    tmp_path: Path,
) -> None:
    """Two llama-cpp-python processes (what `local serve` starts on two cores): a short request
    is answered while a long one is still generating, and at temperature 0 the drafts written
    two at once are, to the character, what one two-thread process writes one after another."""
    import json
    import select
    import socket
    import time
    from concurrent.futures import ThreadPoolExecutor

    models = [ServedModel(BUNDLED_MODEL_ID, bundled_gguf())]
    asks = [
        [MESSAGES[0], {"role": "user", "content": f"Invite {name} to a 20-minute walkthrough."}]
        for name in ("Maria at Brightline", "Tom at Harbor & Pine", "Ada at Quill")
    ]

    def drafts(engine: Engine, at_once: int) -> list[str]:
        with LocalServer(
            lambda: list(models), workdir=tmp_path / "run", engine=engine, threads=2
        ) as server:
            assert server.parallel == engine.parallel
            client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0, timeout=300)

            def one(messages: list[dict[str, str]]) -> str:
                response = client.chat.completions.create(
                    model=BUNDLED_MODEL_ID, messages=messages, temperature=0, max_tokens=96
                )  # type: ignore[call-overload]
                return response.choices[0].message.content or ""

            with ThreadPoolExecutor(at_once) as pool:
                texts = list(pool.map(one, asks))
            if at_once > 1:  # a long generation holds one process; the other still answers
                port = int(server.url.rsplit(":", 1)[1].split("/")[0])
                body = json.dumps(
                    {"model": BUNDLED_MODEL_ID, "messages": MESSAGES, "max_tokens": 2000}
                ).encode()
                with socket.create_connection(("127.0.0.1", port)) as long:
                    long.sendall(
                        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body)
                    )
                    time.sleep(1.0)  # the long one is generating in one process
                    quick = client.chat.completions.create(
                        model=BUNDLED_MODEL_ID, messages=MESSAGES, max_tokens=8, timeout=300
                    )
                    assert quick.choices[0].message.content
                    # Answered before the long one: on one process it would have waited for it.
                    assert select.select([long], [], [], 0)[0] == [], "the long one had ended"
            return texts

    together = drafts(python_engine(cores=2), at_once=2)
    alone = drafts(Engine(), at_once=1)
    assert all(t.strip() for t in alone)
    assert together == alone


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


def test_each_version_gets_its_own_lora_and_the_base_none(tmp_path: Path, engine: Engine) -> None:
    """llama-server loads every LoRA once and the front applies the one the model id names; a
    base request must not get an adapter (llama-server applies all at scale 1 when asked with
    none). Log-probabilities come back joined from llama-server, as drafting's score reads them;
    llama-cpp-python's server is not asked for them (2.8x slower drafting)."""
    pytest.importorskip("peft")
    lora = _random_lora(tmp_path)
    gguf = bundled_gguf()
    models = [ServedModel(BUNDLED_MODEL_ID, gguf), ServedModel("v1", gguf, lora)]

    def drafts(served: list[ServedModel]) -> dict[str, tuple[str, int]]:
        with LocalServer(lambda: served, workdir=tmp_path / "run", engine=engine) as server:
            client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0)
            answers = {}
            for model in [m.model_id for m in served]:
                response = client.chat.completions.create(
                    model=model, messages=MESSAGES, temperature=0, max_tokens=40, logprobs=True,
                    top_logprobs=1, timeout=300,
                )  # fmt: skip
                choice = response.choices[0]
                assert response.model == model
                tokens = len(choice.logprobs.content or []) if choice.logprobs else None
                answers[model] = (choice.message.content or "", tokens)
            return answers

    both = drafts(models)
    alone = drafts(models[:1])
    assert both[BUNDLED_MODEL_ID] == alone[BUNDLED_MODEL_ID]
    assert both["v1"][0] != both[BUNDLED_MODEL_ID][0]
    # One log-probability a token from llama-server; none from llama-cpp-python's server.
    expected = 40 if engine.binary is not None else None
    assert both["v1"][1] == both[BUNDLED_MODEL_ID][1] == expected


def test_llama_server_is_asked_for_llama_cpp_pythons_repeat_penalty(tmp_path: Path) -> None:
    """llama-cpp-python's server penalises repeats by default (1.1) and llama-server does not
    (1.0); without it, llama-server's drafts were edited far more (bench/local_server.py). A
    request that sets its own penalty keeps it; llama-cpp-python's server gets the request as
    sent."""
    from redraft.local.server import LlamaChild

    models = [ServedModel("base", Path("/m.gguf")), ServedModel("v1", Path("/m.gguf"), Path("/v1"))]
    request = {"model": "v1", "messages": MESSAGES, "temperature": 0}
    llama_server = LlamaChild(models, tmp_path, 1, 2048, Engine(Path("/bin/true"), 4))
    assert llama_server.prepare(request) == {
        "repeat_penalty": 1.1,
        "model": "v1",
        "messages": MESSAGES,
        "temperature": 0,
        "lora": [{"id": 0, "scale": 1.0}],
    }
    assert llama_server.prepare({**request, "repeat_penalty": 1.0})["repeat_penalty"] == 1.0
    assert LlamaChild(models, tmp_path, 1, 2048, Engine()).prepare(request) == request


def _random_lora(tmp_path: Path) -> Path:
    """An untrained PEFT LoRA on SmolLM2 (random B, so it changes the output), as GGUF."""
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from redraft.local.base import resolve_base, trainable_dir
    from redraft.local.converters import lora_to_gguf, tools_dir

    hf = trainable_dir(resolve_base(None), tmp_path / "models")
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # as in redraft.training.trl_lora (peft 0.21, transformers 5)
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*deprecated", category=FutureWarning
        )
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(hf), config)
        torch.manual_seed(0)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, std=0.02)
        model.save_pretrained(tmp_path / "adapter")
    tools = tools_dir(tmp_path / "home", _sdist())
    return lora_to_gguf(tools, tmp_path / "adapter", hf, tmp_path / "v1.gguf")


def _sdist() -> Path | None:
    import os

    value = os.environ.get("REDRAFT_LLAMA_CPP_SDIST")
    return Path(value) if value else None


def test_the_front_says_how_many_it_decodes_at_once_and_default_drafting_fits_it(
    tmp_path: Path, engine: Engine
) -> None:
    """`redraft local serve` + drafting with no settings: every task drafted, as many at once
    as the model processes decode (one process per core, up to 4: each llama-server's slots,
    one per llama-cpp-python server)."""
    import requests

    from redraft.backend.drafting import Drafter
    from redraft.backend.versions import ActiveModel
    from redraft.local.server import LLAMA_SERVER_SLOTS, usable_cores
    from redraft.settings import Settings

    parallel = min(usable_cores(), 4) * (1 if engine.binary is None else LLAMA_SERVER_SLOTS)
    models = [ServedModel(BUNDLED_MODEL_ID, bundled_gguf())]
    with LocalServer(lambda: list(models), workdir=tmp_path / "run", engine=engine) as server:
        health = requests.get(server.url.removesuffix("/v1") + "/health", timeout=10)
        assert health.json() == {
            "status": "ok",
            "models": [BUNDLED_MODEL_ID],
            "parallel": parallel,
        }
        assert health.headers["X-Redraft-Parallel"] == str(parallel)
        defaults = Settings.from_env({"REDRAFT_HOME": str(tmp_path / "home")}).with_overrides(
            max_tokens=48, cache_enabled=False
        )
        active = ActiveModel(BUNDLED_MODEL_ID, BUNDLED_MODEL_ID, server.url, "local")
        tasks = [{"id": i, "data": {"brief": f"Invite shop {i} to a demo."}} for i in range(8)]
        drafter = Drafter(defaults, cache=None)
        try:
            outcomes = drafter.draft_many(tasks, active)
            pace = drafter.pace_for(active)
        finally:
            drafter.close()
    assert [(o.task_id, o.ok, o.error) for o in outcomes] == [(i, True, None) for i in range(8)]
    assert pace.advertised == parallel and 1 <= pace.limit <= parallel


def test_a_client_that_goes_away_stops_its_generation_and_is_logged_as_such(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, engine: Engine
) -> None:
    import json
    import logging
    import socket
    import time

    models = [ServedModel(BUNDLED_MODEL_ID, bundled_gguf())]
    body = json.dumps(
        {"model": BUNDLED_MODEL_ID, "messages": MESSAGES, "max_tokens": 2000, "temperature": 0}
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with caplog.at_level(logging.INFO, logger="redraft.local.server"):
        with LocalServer(lambda: list(models), workdir=tmp_path / "run", engine=engine) as server:
            port = int(server.url.rsplit(":", 1)[1].split("/")[0])
            firsts = [socket.create_connection(("127.0.0.1", port)) for _ in range(server.parallel)]
            for first in firsts:
                first.sendall(request)
            time.sleep(1.0)  # the firsts are generating; one more waits for its turn
            queued = socket.create_connection(("127.0.0.1", port))
            queued.sendall(request)
            time.sleep(0.5)
            queued.close()
            for first in firsts:
                first.close()
            client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0)
            # The model is free again at once: a short request answers well within its timeout
            # (each abandoned one asked for 2,000 tokens, minutes of generation here).
            answer = client.chat.completions.create(
                model=BUNDLED_MODEL_ID, messages=MESSAGES, max_tokens=8, timeout=30
            )
            assert answer.choices[0].message.content
    messages = [r.getMessage() for r in caplog.records]
    assert "local server: the client went away while its request waited" in messages
    assert "local server: the client went away; generation stopped" in messages
    assert not [m for m in messages if "failed a request" in m]


def test_the_running_server_is_the_one_address_of_local_versions(tmp_path: Path) -> None:
    """`local serve --port P` records P; training registers there, not at REDRAFT_LOCAL_PORT."""
    from redraft.local.address import local_server_url, record_path, remove_record, write_record
    from redraft.settings import Settings

    settings = Settings(home=tmp_path)
    assert local_server_url(settings) == "http://127.0.0.1:8089/v1"
    write_record(tmp_path, "http://127.0.0.1:9000/v1")
    assert local_server_url(settings) == "http://127.0.0.1:9000/v1"
    assert oct(record_path(tmp_path).stat().st_mode & 0o777) == "0o600"
    remove_record(tmp_path)
    assert local_server_url(settings) == "http://127.0.0.1:8089/v1"
    # A record left by a server that died is not believed.
    record_path(tmp_path).write_text('{"url": "http://127.0.0.1:9000/v1", "pid": 999999999}')
    assert local_server_url(settings) == "http://127.0.0.1:8089/v1"
