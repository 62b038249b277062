"""Errors that users see: each carries a one-line cause and, where there is one, the fix."""

from __future__ import annotations


class KgrecError(Exception):
    """Base class; the CLI prints ``message`` and ``hint`` on one line and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(KgrecError):
    exit_code = 2


class DatabaseNotFound(KgrecError):
    pass


class DatabaseLocked(KgrecError):
    pass


class SchemaVersionError(KgrecError):
    pass


class ConnectionFailed(KgrecError):
    pass


class AuthenticationFailed(KgrecError):
    pass


class CypherError(KgrecError):
    pass


class ReadOnlyViolation(KgrecError):
    pass


class UnknownQuery(KgrecError):
    pass


class NotFound(KgrecError):
    """An id (user, product) that the graph does not hold."""


class DatabaseUnavailable(KgrecError):
    """The graph store went away (file removed, server down) or did not answer in time."""


class QueryTimeout(KgrecError):
    """A query ran past its time limit and the store stopped it."""


class DiskFull(KgrecError):
    """The disk holding the database (or an output file) has no space left."""
