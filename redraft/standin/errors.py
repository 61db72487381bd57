"""OpenAI-style API errors raised inside the stand-in and turned into JSON responses."""

from __future__ import annotations

from typing import Any

from redraft.errors import RedraftError


class ApiError(RedraftError):
    """An error the stand-in answers with an OpenAI error body and an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error body.

        >>> body = ApiError(404, "gone", code="model_not_found").body()
        >>> body == {"error": {"message": "gone", "type": "invalid_request_error",
        ...                    "param": None, "code": "model_not_found"}}
        True
        """
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(param: str, message: str, code: str = "invalid_value") -> ApiError:
    """A 400 invalid_request_error naming `param`."""
    return ApiError(400, message, param=param, code=code)


def model_not_found(model: str) -> ApiError:
    """The 404 the real API gives for a model that does not exist."""
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )
