"""Harper's errors: the one error of the package that carries an HTTP status, and its common constructors.

Every answer Harper gives as an error is a :class:`HarperError`. Validators
(this package), the permission check and the operations raise it; lower
layers (sources, the splitter, the query engine, S3) raise errors of their
own, which the operations translate into Harper's text at the boundary.
"""
from __future__ import annotations

from typing import Any

from ..errors import PipelineError


class HarperError(PipelineError):
    """An answer Harper gives as an error: ``{"error": message}`` with an HTTP status."""

    def __init__(self, message: str | dict, status: int = 400) -> None:
        super().__init__(message if isinstance(message, str) else message.get("error", "error"))
        self.message = message
        self.status = status

    def body(self) -> dict:
        return self.message if isinstance(self.message, dict) else {"error": self.message}


def INVALID_JSON() -> HarperError:  # noqa: N802 - reads as the constant it stands for
    return HarperError("Invalid JSON.")


def MISSING_OPERATION() -> HarperError:  # noqa: N802
    return HarperError("Request body must include an 'operation' property.")


def operation_not_found(name: Any) -> HarperError:
    return HarperError(f"Operation '{name}' not found")
