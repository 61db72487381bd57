"""The stand-in's models and chat completions, driven through the real `openai` client."""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests

from redraft.standin import FaultRule, StandinConfig, StandinServer
from tests.fixtures.common import REDRAFT, interrupt, start_interruptible

BRIEF = "Client: Acme\n\nBrief:\nOffer a free CRM data audit to the sales team at Globex"
MESSAGES = [
    {"role": "system", "content": "You write outreach emails."},
    {"role": "user", "content": BRIEF},
]


def client_for(server: StandinServer, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", "sk-test")
    return openai.OpenAI(base_url=server.base_url, **options)


def draft(client: openai.OpenAI, content: str = BRIEF, **params: Any) -> str:
    params.setdefault("model", "gpt-4o-mini")
    messages = [{"role": "user", "content": content}]
    completion = client.chat.completions.create(messages=messages, **params)
    return completion.choices[0].message.content or ""


def test_models_list_and_retrieve(standin: StandinServer) -> None:
    client = client_for(standin)
    listed = [model.model_dump(exclude_none=True) for model in client.models.list()]
    assert listed == [
        {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
        for name in (
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1-mini",
            "gpt-4.1-mini-2025-04-14",
            "gpt-4o-2024-08-06",
            "stand-in",
        )
    ]
    assert client.models.retrieve("stand-in").model_dump(exclude_none=True) == {
        "id": "stand-in",
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "system",
    }
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-9")
    assert caught.value.body == {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


def test_completion_shape(standin: StandinServer) -> None:
    completion = client_for(standin).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.7
    )
    body = completion.model_dump(exclude_none=True)
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body.pop("created"), int)
    body.pop("id")
    text = body["choices"][0]["message"]["content"]
    assert body == {
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_standin",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 74, "total_tokens": 105},
    }
    assert text.startswith("Subject: ")
    assert '"Offer a free CRM data audit to the"' in text
    assert text.endswith("[stand-in draft from gpt-4o-mini]")
    assert standin.requests == [
        {
            "method": "POST",
            "path": "/v1/chat/completions",
            "json": {"messages": MESSAGES, "model": "gpt-4o-mini", "temperature": 0.7},
        }
    ]


def test_text_is_deterministic_per_request(standin: StandinServer) -> None:
    client = client_for(standin)
    first = draft(client)
    assert draft(client) == first
    assert draft(client, "Brief:\nInvite Initech to the launch webinar") != first
    assert draft(client, model="gpt-4.1-mini") != first
    assert draft(client, temperature=1.3) != first


def test_json_object_response(standin: StandinServer) -> None:
    client = client_for(standin)
    content = draft(client, "Rate this draft", response_format={"type": "json_object"})
    parsed = json.loads(content)
    assert parsed == {
        "stand_in": True,
        "score": parsed["score"],
        "text": "[stand-in judgement from gpt-4o-mini] Rate this draft",
    }
    assert parsed["score"] in {1, 2, 3, 4, 5}
    scores = {
        json.loads(draft(client, f"Rate draft {i}", response_format={"type": "json_object"}))[
            "score"
        ]
        for i in range(20)
    }
    assert len(scores) > 1


def test_max_tokens_truncates_with_length(standin: StandinServer) -> None:
    completion = client_for(standin).chat.completions.create(
        model="stand-in", messages=MESSAGES, max_tokens=5
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert completion.choices[0].message.content == "Subject: " + (
        completion.choices[0].message.content or ""
    ).removeprefix("Subject: ")


def test_unknown_model_is_404(standin: StandinServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        draft(client_for(standin), model="gpt-x")
    assert caught.value.status_code == 404
    assert caught.value.body == {
        "message": "The model `gpt-x` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"messages": "hello"}, "messages", "invalid_type"),
        ({"messages": []}, "messages", "empty_array"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        (
            {"messages": [{"role": "user", "content": "x", "mood": "happy"}]},
            "messages[0]",
            "unknown_parameter",
        ),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"temperature": -1}, "temperature", "decimal_below_min_value"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"frobnicate": True}, "frobnicate", "unknown_parameter"),
    ],
)
def test_malformed_request_is_400(
    standin: StandinServer, overrides: dict[str, Any], param: str, code: str
) -> None:
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, **overrides}
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(standin).post("/chat/completions", body=body, cast_to=dict)
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_bad_role_message(standin: StandinServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(standin).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "robot", "content": "hi"}],  # type: ignore[list-item]
        )
    assert caught.value.body == {
        "message": "Invalid value: 'robot'. Supported values are: 'system', 'assistant', "
        "'user', 'function', 'tool', and 'developer'.",
        "type": "invalid_request_error",
        "param": "messages[0].role",
        "code": "invalid_value",
    }


def test_missing_bearer_is_401(standin: StandinServer) -> None:
    response = requests.post(
        f"{standin.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_configured_api_key_is_enforced() -> None:
    with StandinServer(StandinConfig(api_key="sk-right")) as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            draft(client_for(server, api_key="sk-wrong"))
        assert caught.value.body == {
            "message": "Incorrect API key provided. The stand-in was started with --api-key; "
            "send the same key as OPENAI_API_KEY.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
        assert "sk-wrong" not in json.dumps(caught.value.body)
        assert draft(client_for(server, api_key="sk-right")).startswith("Subject: ")


def test_unknown_route_is_404_json(standin: StandinServer) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    response = requests.get(f"{standin.url}/v1/nothing-here", headers=headers, timeout=5)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nothing-here)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_latency_is_applied(standin: StandinServer) -> None:
    standin.set_latency(250)
    raw = client_for(standin).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.headers["x-standin-latency-ms"] == "250"


def test_64_concurrent_requests_are_served(standin: StandinServer) -> None:
    standin.set_latency(200)
    client = client_for(standin, timeout=30)
    with ThreadPoolExecutor(max_workers=64) as pool:
        texts = list(pool.map(lambda i: draft(client, f"Brief:\nLead number {i}"), range(64)))
    assert len(set(texts)) == 64
    assert standin.request_count() == 64


def test_peak_in_flight_counts_overlapping_chat_requests(standin: StandinServer) -> None:
    standin.set_latency(500)
    client = client_for(standin, timeout=30)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: draft(client, f"Brief:\nLead {i}"), range(6)))
    draft(client)  # alone: does not raise the peak
    assert standin.peak_in_flight() == 6
    requests.get(f"{standin.base_url}/models", headers={"Authorization": "Bearer k"}, timeout=5)
    assert requests.get(f"{standin.url}/_standin/requests", timeout=5).json() == {
        "total": 8,
        "counts": {"POST /v1/chat/completions": 7, "GET /v1/models": 1},
        "chat_in_flight": 0,
        "chat_peak_in_flight": 6,
    }
    standin.reset_peak_in_flight()
    assert standin.peak_in_flight() == 0
    cleared = requests.delete(f"{standin.url}/_standin/requests", timeout=5).json()
    assert cleared == {"total": 0, "counts": {}, "chat_in_flight": 0, "chat_peak_in_flight": 0}
    assert (standin.requests, standin.request_count()) == ([], 0)


def test_request_log_keeps_the_last_n_and_exact_counts() -> None:
    with StandinServer(StandinConfig(request_log_keep=3)) as server:
        client = client_for(server)
        for i in range(5):
            draft(client, f"Brief:\nLead {i}")
        kept = [r["json"]["messages"][0]["content"] for r in server.requests]
        assert kept == ["Brief:\nLead 2", "Brief:\nLead 3", "Brief:\nLead 4"]
        assert (server.request_count(), server.total_requests()) == (5, 5)


def test_fault_429_carries_retry_after(standin: StandinServer) -> None:
    standin.add_fault(FaultRule("429", retry_after=2))
    with pytest.raises(openai.RateLimitError) as caught:
        draft(client_for(standin))
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body == {
        "message": "Rate limit reached for requests (stand-in fault injection). "
        "Please try again in 2s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_fault_500(standin: StandinServer) -> None:
    standin.add_fault(FaultRule("500"))
    with pytest.raises(openai.InternalServerError) as caught:
        draft(client_for(standin))
    assert caught.value.status_code == 500
    assert caught.value.body == {
        "message": "The server had an error while processing your request. Sorry about that! "
        "(stand-in fault injection)",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_fault_empty(standin: StandinServer) -> None:
    standin.add_fault(FaultRule("empty"))
    completion = client_for(standin).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == ""
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 0


def test_hang_is_cut_by_client_timeout_and_stop_releases_it() -> None:
    server = StandinServer(StandinConfig(faults=[FaultRule("hang", times=1)])).start()
    try:
        client = client_for(server, timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            draft(client)
        assert draft(client).startswith("Subject: ")  # a hung request blocks nobody else
    finally:
        server.stop()
    assert server.state.stop_event.is_set()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/models", timeout=2)


def test_match_and_times(standin: StandinServer) -> None:
    standin.add_fault(FaultRule("500", match="Globex", times=2))
    client = client_for(standin)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            draft(client, "Brief:\nPitch Globex")
    assert draft(client, "Brief:\nPitch Initech").startswith("Subject: ")
    assert draft(client, "Brief:\nPitch Globex").startswith("Subject: ")
    assert standin.request_count() == 4


def test_a_fault_for_one_model_leaves_the_others_alone(standin: StandinServer) -> None:
    """A fine-tuned version that answers nothing, next to a base model that drafts."""
    standin.add_fault(FaultRule("empty", model="gpt-4.1"))
    client = client_for(standin)
    assert draft(client, model="gpt-4.1-mini") == ""
    assert draft(client, model="gpt-4o-mini").startswith("Subject: ")
    assert standin.state.config_dict()["faults"] == [
        {"kind": "empty", "match": None, "times": None, "retry_after": 1.0, "model": "gpt-4.1",
         "hits": 1}
    ]  # fmt: skip


def test_client_retries_through_a_transient_429(standin: StandinServer) -> None:
    standin.add_fault(FaultRule("429", times=1, retry_after=0.1))
    assert draft(client_for(standin, max_retries=2)).startswith("Subject: ")
    assert standin.request_count() == 2


def test_config_over_http(standin: StandinServer) -> None:
    response = requests.post(
        f"{standin.url}/_standin/config",
        json={"latency_ms": 10, "add_faults": [{"kind": "empty", "match": "quiet", "times": 1}]},
        timeout=5,
    )
    assert response.status_code == 200
    assert draft(client_for(standin), "stay quiet") == ""
    assert requests.get(f"{standin.url}/_standin/config", timeout=5).json() == {
        "latency_ms": 10,
        "models": list(StandinConfig().models),
        "fine_tuned_models": [],
        "faults": [
            {
                "kind": "empty",
                "match": "quiet",
                "times": 1,
                "retry_after": 1.0,
                "model": None,
                "hits": 1,
            }
        ],
        "hang_seconds": 30.0,
        "api_key_required": False,
        "job_step_seconds": 0.2,
        "max_in_flight": 0,
    }
    bad = requests.post(f"{standin.url}/_standin/config", json={"latncy": 1}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("unknown config key: latncy; allowed:")
    cleared = requests.post(
        f"{standin.url}/_standin/config", json={"clear_faults": True}, timeout=5
    )
    assert cleared.json()["faults"] == []
    assert standin.request_count("/_standin/config") == 0  # control calls are not logged


def test_cli_runs_until_interrupted() -> None:
    process = start_interruptible(
        [REDRAFT, "standin", "--port", "0", "--fault", "empty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert re.fullmatch(r"OPENAI_BASE_URL=http://127\.0\.0\.1:\d+/v1", line), line
        base_url = line.removeprefix("OPENAI_BASE_URL=")
        client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        completion = client.chat.completions.create(model="stand-in", messages=MESSAGES)
        assert completion.choices[0].message.content == ""
    finally:
        stdout, stderr = interrupt(process, timeout=10)
    assert process.returncode == 0
    assert stdout == ""
    assert stderr.splitlines()[-1] == "stand-in stopped after 1 request"


def test_a_concurrency_limit_answers_429_beyond_it_as_a_rate_limited_host(
    standin: StandinServer,
) -> None:
    standin.state.apply_config({"latency_ms": 300, "max_in_flight": 1})
    client = client_for(standin)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(draft, client, "one")
        time.sleep(0.1)
        with pytest.raises(openai.RateLimitError) as refused:
            draft(client, "two")
        assert first.result()
    assert refused.value.response.headers["Retry-After"] == "1"
    assert draft(client, "three")  # one at a time is fine
