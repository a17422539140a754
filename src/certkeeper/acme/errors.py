"""Typed ACME errors so callers decide retry-or-fail from the type, not from strings.

cert-manager's rule (spec §4.7): 4xx answers (rate limits included) are terminal for the
Order, while network errors and 5xx are retried by the work queue. The message format
``<status> <problem type>: <detail>`` is the one cert-manager puts into reasons.
"""

from __future__ import annotations

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"


class AcmeError(Exception):
    """Base of every error this package raises."""

    retryable: bool = False


class AcmeRetryableError(AcmeError):
    """A later attempt may succeed without any change (network, 5xx, polling deadline)."""

    retryable = True


class AcmeNetworkError(AcmeRetryableError):
    """The server could not be reached or the connection broke."""


class AcmeTimeoutError(AcmeRetryableError):
    """Polling gave up before the resource reached a final state."""


class AcmeProtocolError(AcmeError):
    """The server answered something RFC 8555 does not allow (e.g. no Location)."""


class AcmeProblemError(AcmeError):
    """An HTTP error answer, usually with an RFC 7807 problem document."""

    def __init__(
        self,
        status: int,
        problem_type: str,
        detail: str,
        *,
        retry_after: float | None = None,
        subproblems: tuple[str, ...] = (),
    ) -> None:
        self.status = status
        self.problem_type = problem_type
        self.detail = detail
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After``), if it said so."""
        self.subproblems = subproblems
        text = f"{status} {problem_type}: {detail}" if problem_type else f"{status}: {detail}"
        for sub in subproblems:
            text += f"; {sub}"
        super().__init__(text)

    @property
    def code(self) -> str:
        """Short ACME error code (``badNonce``) or '' for non-ACME problem types."""
        if self.problem_type.startswith(ACME_ERROR_PREFIX):
            return self.problem_type[len(ACME_ERROR_PREFIX) :]
        return ""


class AcmeTerminalError(AcmeProblemError):
    """A 4xx answer: repeating the same request will not help."""


class AcmeRateLimitedError(AcmeTerminalError):
    """429 / ``rateLimited``: terminal for this Order; ``retry_after`` says when to try anew."""


class AcmeServerError(AcmeProblemError, AcmeRetryableError):
    """A 5xx answer: the server had trouble; retry later."""

    retryable = True
