"""Python's :mod:`logging`, routed to the host's ``log`` interface.

Importing :mod:`wharf` installs :class:`HostLogHandler` on the root logger
(and sets the root level to INFO when nobody set one), so that
``logging.getLogger(__name__).info(...)`` in a plugin lands in the host's
log, tagged with the plugin's name, at the mapped level:

=================  ==========
logging            host level
=================  ==========
below DEBUG        trace
DEBUG              debug
INFO               info
WARNING            warn
ERROR, CRITICAL    error
=================  ==========

The handler writes to the backend of the call in progress (the host in a
component, the :class:`~wharf.testing.FakeCluster` running a test, which
records the lines). Outside a call there is nowhere to send a line: in a
component it goes to stderr, in tests it is left to the other handlers.
``print`` needs nothing: the host captures stdout and stderr itself.
"""

from __future__ import annotations

import logging
import sys

from .backend import Backend, LogLevel

__all__ = ["HostLogHandler", "install", "routed_to", "level_of"]

_current: Backend | None = None
#: Whether lines logged outside a call go to stderr (set in a component).
_stderr_outside_calls = False


def level_of(levelno: int) -> LogLevel:
    """The host level for a :mod:`logging` level number."""
    if levelno >= logging.ERROR:
        return LogLevel.ERROR
    if levelno >= logging.WARNING:
        return LogLevel.WARN
    if levelno >= logging.INFO:
        return LogLevel.INFO
    if levelno >= logging.DEBUG:
        return LogLevel.DEBUG
    return LogLevel.TRACE


class _Formatter(logging.Formatter):
    """``logger: message`` (the root logger's lines without a prefix), the
    traceback after it when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.name == "root" else f"{record.name}: {text}"


class HostLogHandler(logging.Handler):
    """Sends records to the host's ``log`` interface (see the module docs)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            backend = _current
            if backend is not None:
                backend.log(level_of(record.levelno), message)
            elif _stderr_outside_calls:
                sys.stderr.write(f"{record.levelname}: {message}\n")
        except Exception:  # a log line must never fail the call
            self.handleError(record)


_handler: HostLogHandler | None = None


def install(level: int = logging.INFO) -> HostLogHandler:
    """Installs the handler on the root logger once, and sets the root level
    to ``level`` unless it was set already (it is WARNING by default).
    Returns the handler."""
    global _handler
    if _handler is None:
        _handler = HostLogHandler()
        root = logging.getLogger()
        root.addHandler(_handler)
        if root.level == logging.WARNING:
            root.setLevel(level)
    return _handler


class routed_to:
    """Routes the handler's lines to ``backend`` for the duration of a
    ``with`` (one call: an init, a reconcile, a review). A class rather
    than a generator: its exit leaves the exception passing through
    untouched (componentize-py's ``Err`` is frozen)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._previous: Backend | None = None

    def __enter__(self) -> None:
        global _current
        self._previous = _current
        _current = self._backend

    def __exit__(self, *exc_info: object) -> None:
        global _current
        _current = self._previous
