"""Core errors re-raised as classes that are both the `qwen_vl_core` error and LangChain's own.

langchain-core 1.8 asks integrations to raise subclasses of its `Model*Error` taxonomy that also
inherit the provider's error type (langchain-openai does `OpenAIRateLimitError(openai.RateLimitError,
ModelRateLimitError)`), so `except ModelRateLimitError` and `except qwen_vl_core.RateLimitError`
both catch the same failure, and LangChain's retry / fallback helpers see `is_retryable`.
"""

from __future__ import annotations

from langchain_core import exceptions as lc

import qwen_vl_core as core

__all__ = [
    "QwenVLAPIConnectionError",
    "QwenVLAPIError",
    "QwenVLAPITimeoutError",
    "QwenVLAuthenticationError",
    "QwenVLContextOverflowError",
    "QwenVLIncompleteStreamError",
    "QwenVLInvalidRequestError",
    "QwenVLMissingAPIKeyError",
    "QwenVLNotFoundError",
    "QwenVLPermissionDeniedError",
    "QwenVLRateLimitError",
    "QwenVLServerError",
    "QwenVLStreamError",
    "to_langchain_error",
]


class QwenVLAPIError(core.QwenVLError, lc.ModelError):
    """Any other core failure, as a LangChain `ModelError`."""


class QwenVLAuthenticationError(core.AuthenticationError, lc.ModelAuthenticationError):
    pass


class QwenVLMissingAPIKeyError(core.MissingAPIKeyError, lc.ModelAuthenticationError):
    pass


class QwenVLPermissionDeniedError(core.PermissionDeniedError, lc.ModelPermissionDeniedError):
    pass


class QwenVLInvalidRequestError(core.InvalidRequestError, lc.ModelInvalidRequestError):
    pass


class QwenVLContextOverflowError(core.ContextOverflowError, lc.ContextOverflowError):
    pass


class QwenVLNotFoundError(core.NotFoundError, lc.ModelNotFoundError):
    pass


class QwenVLRateLimitError(core.RateLimitError, lc.ModelRateLimitError):
    pass


class QwenVLServerError(core.ServerError, lc.ModelAPIError):
    pass


class QwenVLStreamError(core.StreamError, lc.ModelError):
    """An error frame mid-stream (e.g. content moderation): not a 5xx, so not `ModelAPIError`."""


class QwenVLAPIConnectionError(core.APIConnectionError, lc.ModelConnectionError):
    pass


class QwenVLAPITimeoutError(core.APITimeoutError, lc.ModelTimeoutError):
    pass


class QwenVLIncompleteStreamError(core.IncompleteStreamError, lc.ModelConnectionError):
    """The stream broke or stalled before the model finished; `partial` holds what arrived."""


_DUAL: dict[type[core.QwenVLError], type[core.QwenVLError]] = {
    core.MissingAPIKeyError: QwenVLMissingAPIKeyError,
    core.AuthenticationError: QwenVLAuthenticationError,
    core.PermissionDeniedError: QwenVLPermissionDeniedError,
    core.ContextOverflowError: QwenVLContextOverflowError,
    core.InvalidRequestError: QwenVLInvalidRequestError,
    core.NotFoundError: QwenVLNotFoundError,
    core.RateLimitError: QwenVLRateLimitError,
    core.ServerError: QwenVLServerError,
    core.StreamError: QwenVLStreamError,
    core.APITimeoutError: QwenVLAPITimeoutError,
    core.APIConnectionError: QwenVLAPIConnectionError,
    core.IncompleteStreamError: QwenVLIncompleteStreamError,
    core.QwenVLError: QwenVLAPIError,
}


def to_langchain_error(error: core.QwenVLError) -> core.QwenVLError:
    """The dual-parent twin of `error` (same message, status, code, request id and partial result)."""
    if isinstance(error, lc.ModelError):
        return error
    cls = next(_DUAL[k] for k in type(error).__mro__ if k in _DUAL)
    return cls(
        error.message,
        status=error.status,
        code=error.code,
        request_id=error.request_id,
        partial=error.partial,
    )
