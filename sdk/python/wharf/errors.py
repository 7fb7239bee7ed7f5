"""Errors: what a cluster call fails with, as the Kubernetes API would say it.

The classes mirror the WIT ``api-error`` variant (``wit/host.wit``): one
subclass per case, and :class:`ApiError` itself for ``other``. Catch the
subclass you can handle and let the rest escape ``reconcile``: the host then
retries the key with backoff.

>>> try:
...     raise NotFound('ConfigMap "a" not found')
... except ApiError as error:
...     (error.reason, error.code, str(error))
('NotFound', 404, 'not found: ConfigMap "a" not found')
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "Invalid",
    "PluginCrashed",
]


class ApiError(Exception):
    """A cluster call failed: the WIT ``api-error``. Used as is for ``other``
    (the host failed, a timeout…); the subclasses are the other cases."""

    #: The Kubernetes ``Status`` reason.
    reason: str = "InternalError"
    #: The HTTP status code the API would answer with.
    code: int = 500
    #: How ``str()`` begins, as the Rust SDK prints the error.
    _prefix: str = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self._prefix}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NotFound(ApiError):
    """404: the object (or its namespace) does not exist."""

    reason = "NotFound"
    code = 404
    _prefix = "not found: "


class AlreadyExists(ApiError):
    """409: an object with that name exists."""

    reason = "AlreadyExists"
    code = 409
    _prefix = "already exists: "


class Conflict(ApiError):
    """409: the resourceVersion was stale; read again and retry."""

    reason = "Conflict"
    code = 409
    _prefix = "conflict: "


class Forbidden(ApiError):
    """403: the plugin's permissions do not allow this."""

    reason = "Forbidden"
    code = 403
    _prefix = "forbidden: "


class Invalid(ApiError):
    """400/422: the object or request is invalid."""

    reason = "Invalid"
    code = 422
    _prefix = "invalid: "


class PluginCrashed(Exception):
    """Raised by the SDK's glue when an admission review raised: its traceback
    has been written to stderr (where the host keeps the tail), and the call
    must trap, as the WIT ``review`` has no error result."""
