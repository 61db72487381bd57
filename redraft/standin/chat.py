"""Chat completions: strict request validation and the response body, as pure functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from redraft.standin.errors import ApiError, invalid, model_not_found
from redraft.standin.text import (
    count_tokens,
    draft_text,
    judge_json,
    message_text,
    request_digest,
    truncate_tokens,
)

KNOWN_PARAMS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "response_format",
        "user",
        "metadata",
        "store",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream",
        "stream_options",
        "service_tier",
        "reasoning_effort",
        "modalities",
        "prediction",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "refusal", "function_call", "audio"}
)
# Parameters that change the text (anything else, such as `user`, does not).
TEXT_PARAMS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "stop")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> None:
    if key not in body or body[key] is None:
        return
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(
            key,
            f"Invalid type for '{key}': expected a decimal, but got {_type_name(value)} instead.",
            "invalid_type",
        )
    if value < low:
        raise invalid(
            key,
            f"Invalid '{key}': decimal below minimum value. "
            f"Expected a value >= {low:g}, but got {value} instead.",
            "decimal_below_min_value",
        )
    if value > high:
        raise invalid(
            key,
            f"Invalid '{key}': decimal above maximum value. "
            f"Expected a value <= {high:g}, but got {value} instead.",
            "decimal_above_max_value",
        )


def _integer(body: Mapping[str, Any], key: str, low: int, high: int | None = None) -> None:
    if key not in body or body[key] is None:
        return
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(
            key,
            f"Invalid type for '{key}': expected an integer, but got {_type_name(value)} instead.",
            "invalid_type",
        )
    if value < low:
        raise invalid(
            key,
            f"Invalid '{key}': integer below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            "integer_below_min_value",
        )
    if high is not None and value > high:
        raise invalid(
            key,
            f"Invalid '{key}': integer above maximum value. "
            f"Expected a value <= {high}, but got {value} instead.",
            "integer_above_max_value",
        )


def _validate_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise invalid(
            where,
            f"Invalid type for '{where}': expected an object, "
            f"but got {_type_name(message)} instead.",
            "invalid_type",
        )
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        raise invalid(
            where,
            f"Additional properties are not allowed ('{unknown[0]}' was unexpected) in '{where}'.",
            "unknown_parameter",
        )
    if "role" not in message:
        raise invalid(
            f"{where}.role",
            f"Missing required parameter: '{where}.role'.",
            "missing_required_parameter",
        )
    role = message["role"]
    if role not in ROLES:
        supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
        raise invalid(
            f"{where}.role",
            f"Invalid value: '{role}'. Supported values are: {supported}.",
        )
    content_optional = role == "assistant" and (
        message.get("tool_calls") or message.get("function_call")
    )
    if "content" not in message or message["content"] is None:
        if content_optional:
            return
        raise invalid(
            f"{where}.content",
            f"Missing required parameter: '{where}.content'.",
            "missing_required_parameter",
        )
    content = message["content"]
    if isinstance(content, str):
        return
    if isinstance(content, list) and content:
        for part_index, part in enumerate(content):
            if not isinstance(part, dict) or "type" not in part:
                raise invalid(
                    f"{where}.content[{part_index}]",
                    f"Invalid '{where}.content[{part_index}]': expected a content part object "
                    "with a 'type'.",
                )
        return
    raise invalid(
        f"{where}.content",
        f"Invalid type for '{where}.content': expected one of a string or array of objects, "
        f"but got {_type_name(content)} instead.",
        "invalid_type",
    )


def validate_chat_request(body: Any, has_model: Callable[[str], bool]) -> None:
    """Raise ApiError (400/404) for a request the real API would refuse."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON "
            "payload, but what was sent was not valid JSON.",
        )
    unknown = sorted(set(body) - KNOWN_PARAMS)
    if unknown:
        raise invalid(
            unknown[0], f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter"
        )
    if "model" not in body:
        raise ApiError(400, "you must provide a model parameter")
    if not isinstance(body["model"], str):
        raise invalid(
            "model",
            f"Invalid type for 'model': expected a string, "
            f"but got {_type_name(body['model'])} instead.",
            "invalid_type",
        )
    if "messages" not in body:
        raise invalid(
            "messages", "Missing required parameter: 'messages'.", "missing_required_parameter"
        )
    messages = body["messages"]
    if not isinstance(messages, list):
        raise invalid(
            "messages",
            f"Invalid type for 'messages': expected an array of objects, "
            f"but got {_type_name(messages)} instead.",
            "invalid_type",
        )
    if not messages:
        raise invalid(
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "empty_array",
        )
    for index, message in enumerate(messages):
        _validate_message(index, message)
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _integer(body, "max_tokens", 1)
    _integer(body, "max_completion_tokens", 1)
    _integer(body, "n", 1, 128)
    _integer(body, "seed", -(2**63), 2**63 - 1)
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(
                "response_format.type",
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', "
                "and 'json_schema'.",
            )
    if body.get("stream"):
        raise invalid("stream", "The stand-in does not support stream=true; send stream=false.")
    if not has_model(body["model"]):
        raise model_not_found(body["model"])


def build_completion(body: Mapping[str, Any], completion_id: str, created: int) -> dict[str, Any]:
    """The ChatCompletion body for a validated request (deterministic but for id/created)."""
    model = body["model"]
    messages = body["messages"]
    params = {key: body[key] for key in TEXT_PARAMS if body.get(key) is not None}
    json_mode = (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    choices = []
    completion_tokens = 0
    for index in range(body.get("n") or 1):
        digest = request_digest(model, messages, {**params, "json": json_mode}, index)
        text = (judge_json if json_mode else draft_text)(model, messages, digest)
        finish_reason = "stop"
        if max_tokens is not None and count_tokens(text) > max_tokens:
            text = truncate_tokens(text, max_tokens)
            finish_reason = "length"
        completion_tokens += count_tokens(text)
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        )
    prompt_tokens = sum(count_tokens(message_text(m)) + 3 for m in messages) + 3
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_standin",
    }


def empty_completion(body: Mapping[str, Any], completion_id: str, created: int) -> dict[str, Any]:
    """A 200 completion whose content is "" (the `empty` fault)."""
    result = build_completion({**body, "n": 1}, completion_id, created)
    result["choices"][0]["message"]["content"] = ""
    result["usage"]["total_tokens"] -= result["usage"]["completion_tokens"]
    result["usage"]["completion_tokens"] = 0
    return result
