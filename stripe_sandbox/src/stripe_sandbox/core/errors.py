"""Stripe's error responses: ``{"error": {type, code, decline_code, message, param, doc_url}}``."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the API answers with, carrying Stripe's status, type and code."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        keep_writes: bool = False,
    ) -> None:
        super().__init__(message)
        #: The request did something before it failed (a declined charge attempt), which
        #: stays done: the answer is an error, but the writes are not rolled back.
        self.keep_writes = keep_writes
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "decline_code": self.decline_code,
            "message": self.message,
            "param": self.param,
            "doc_url": (
                f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
                if self.code
                else None
            ),
        }
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 ``invalid_request_error``; ``code`` is one of the error codes Stripe documents
    (the SDK lists them), or None where Stripe sends none."""
    return StripeError(message, param=param, code=code)


def exclusive(first: str, second: str) -> StripeError:
    """Stripe's 400 for two parameters that cannot be given together."""
    return StripeError(
        f"You may only specify one of these parameters: {first}, {second}.",
        param=second,
        code="parameters_exclusive",
    )


def card_declined(code: str, decline_code: str | None, message: str) -> StripeError:
    """Stripe's 402 ``card_error`` for a charge attempt the issuer refused; the attempt
    itself (a failed charge, an invoice's attempt count) is kept."""
    return StripeError(
        message,
        status=402,
        type="card_error",
        code=code,
        decline_code=decline_code,
        keep_writes=True,
    )


def missing_param(param: str) -> StripeError:
    """A 400 for a required parameter that was not sent."""
    return StripeError(f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(resource: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's ``resource_missing`` error: "No such price: 'price_x'"."""
    return StripeError(
        f"No such {resource}: '{object_id}'", status=status, code="resource_missing", param=param
    )
