"""The exception tree: every error selfinstruct raises on purpose, decided by type.

    SelfInstructError
    ├── ConfigError                 bad TOML, unknown key, bad flag value (names file/key)
    ├── InputError                  malformed seed/input file (names file:line)
    ├── StorageError                disk full, unreadable state (names the path)
    ├── RequestError                one request to an endpoint went wrong (names endpoint)
    │   ├── RetryableError          worth trying again, after a wait
    │   │   ├── RateLimited         429; carries retry_after seconds if the server said so
    │   │   ├── ServerError         5xx, 408, 409
    │   │   ├── TransientNetworkError   reset, refused, timeout, hang
    │   │   └── MalformedResponse   body that is not the JSON we expect (truncated, garbage)
    │   └── PermanentError          trying again cannot help
    │       ├── FatalEndpointError  401/403/404 and other 4xx: the whole run stops
    │       │   ├── AuthError       401/403
    │       │   └── EndpointUnreachable  never answered in this run (refused, DNS, TLS, 5xx): exit 2
    │       └── ContextLengthExceeded  prompt + max_tokens too long (engine shrinks max_tokens)
    ├── RequestFailed               a request exhausted its attempts (kept, exit code 3)
    ├── EndpointDown                down longer than max_outage: the run stops, resumable (exit code 3)
    └── RequestNotStarted           a stop came before the request was sent: not an error, resumed next run

Third-party exceptions (aiohttp, sqlite3, OSError) are translated once, at the
boundary where they happen, with ``raise ... from exc``.  Nothing here ever
carries an API key: messages name the endpoint URL and the HTTP status only.
"""

from __future__ import annotations

__all__ = [
    "SelfInstructError",
    "ConfigError",
    "InputError",
    "StorageError",
    "RequestError",
    "RetryableError",
    "RateLimited",
    "ServerError",
    "TransientNetworkError",
    "MalformedResponse",
    "PermanentError",
    "FatalEndpointError",
    "AuthError",
    "EndpointUnreachable",
    "EndpointDown",
    "RequestNotStarted",
    "ContextLengthExceeded",
    "RequestFailed",
    "EXIT_OK",
    "EXIT_FATAL",
    "EXIT_SOME_FAILED",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_FATAL = 2
EXIT_SOME_FAILED = 3
EXIT_INTERRUPTED = 130


class SelfInstructError(Exception):
    """Base of every error selfinstruct raises on purpose."""


class ConfigError(SelfInstructError):
    """A configuration value or file is wrong. The message names the key and file."""


class InputError(SelfInstructError):
    """An input file is malformed. The message names file:line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = f"{path}:{line}: " if path is not None and line is not None else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class StorageError(SelfInstructError):
    """Durable state could not be read or written (disk full, corrupt file)."""


class RequestError(SelfInstructError):
    """One request to an endpoint failed. ``endpoint`` is the URL, ``status`` the HTTP status."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class RetryableError(RequestError):
    """Trying again later may succeed."""

    retry_after: float | None = None


class RateLimited(RetryableError):
    """HTTP 429. ``retry_after`` is the server's Retry-After in seconds, if any."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = 429,
                 retry_after: float | None = None):
        super().__init__(message, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """5xx, 408 or 409."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class TransientNetworkError(RetryableError):
    """Connection reset/refused, or the per-request timeout expired."""


class MalformedResponse(RetryableError):
    """The body was not the JSON shape an OpenAI-compatible server returns."""


class PermanentError(RequestError):
    """Trying again cannot help."""


class FatalEndpointError(PermanentError):
    """401/403/404 or another 4xx: the configuration is wrong, so the whole run stops."""


class AuthError(FatalEndpointError):
    """401 or 403: the key is missing or wrong. The key itself is never in the message."""


class EndpointUnreachable(FatalEndpointError):
    """The endpoint has not answered once in this run: every call was refused, failed DNS/TLS, timed out or got a 5xx."""


class ContextLengthExceeded(PermanentError):
    """The prompt plus max_tokens exceeds the model's context; the engine may shrink max_tokens.

    ``retryable`` is False once max_tokens cannot shrink any further.
    """

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = 400, retryable: bool = True):
        super().__init__(message, endpoint=endpoint, status=status)
        self.retryable = retryable


class RequestFailed(SelfInstructError):
    """A request used up its attempts. ``last_error`` is the final RequestError."""

    def __init__(self, request_id: str, last_error: BaseException, attempts: int):
        super().__init__(f"request {request_id!r} failed after {attempts} attempt(s): {last_error}")
        self.request_id = request_id
        self.last_error = last_error
        self.attempts = attempts


class EndpointDown(SelfInstructError):
    """The endpoint answered earlier but has been down longer than ``max_outage``. Rerunning resumes.

    ``down_since`` is the wall-clock time (epoch seconds) of the first failure of
    the outage, ``duration`` how long it lasted when the run gave up.
    """

    def __init__(self, message: str, *, endpoint: str = "", down_since: float | None = None,
                 duration: float = 0.0):
        super().__init__(message)
        self.endpoint = endpoint
        self.down_since = down_since
        self.duration = duration


class RequestNotStarted(SelfInstructError):
    """The run is stopping and this request was never sent. Callers treat it as unfinished work, not a failure."""
