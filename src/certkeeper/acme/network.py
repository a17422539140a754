"""certbot's ``ClientNetwork`` made robust: nonce reuse from error answers, badNonce retry
storms, and typed errors that keep the HTTP status and ``Retry-After``.

The library retries ``badNonce`` once and drops the fresh nonce the error carried, so a
server rejecting half of all nonces (Pebble ``PEBBLE_WFE_NONCEREJECT=50``) breaks it; and
its ``messages.Error`` loses the HTTP status and headers, which callers need to tell a
rate limit (terminal, with Retry-After) from a 5xx (retry). JOSE signing stays the
library's.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from typing import Any

import requests
from acme import errors as acme_errors
from acme import jws, messages
from acme.client import ClientNetwork
from josepy.errors import DeserializationError
from josepy.json_util import JSONObjectWithFields

from certkeeper.acme.errors import (
    AcmeNetworkError,
    AcmeProblemError,
    AcmeProtocolError,
    AcmeRateLimitedError,
    AcmeServerError,
    AcmeTerminalError,
)

log = logging.getLogger(__name__)

DEFAULT_BAD_NONCE_RETRIES = 20
"""Each retry uses the nonce the rejection carried, so a retry costs one round trip; 20
keeps a server rejecting half of all nonces (Pebble NONCEREJECT=50) at ~1e-6 failures
per request, where cert-manager's 5 would fail ~1.5% of them."""


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or HTTP-date); None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def problem_from_response(response: requests.Response, error: messages.Error | None) -> AcmeProblemError:
    """The typed error for a non-2xx answer (problem document or not)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if error is not None:
        problem_type = str(error.typ or "")
        detail = str(error.detail or error.description or "")
        subproblems = tuple(str(sub) for sub in (error.subproblems or ()))
    else:
        problem_type = ""
        detail = (response.text or response.reason or "").strip()[:500]
        subproblems = ()
    kind: type[AcmeProblemError]
    if status == 429 or problem_type.endswith(":rateLimited"):
        kind = AcmeRateLimitedError
    elif status >= 500:
        kind = AcmeServerError
    else:
        kind = AcmeTerminalError
    return kind(status, problem_type, detail, retry_after=retry_after, subproblems=subproblems)


class EmptyPayload(JSONObjectWithFields):
    """``{}``: the body that tells the server to validate a challenge (RFC 8555 §7.5.1).

    Truthy on purpose: the library signs an empty payload (POST-as-GET) for falsy objects,
    and a field-less mapping would be falsy."""

    def __bool__(self) -> bool:
        return True


class RobustClientNetwork(ClientNetwork):
    """``ClientNetwork`` with typed errors, nonce capture and a bounded badNonce loop."""

    def __init__(self, *args: Any, bad_nonce_retries: int = DEFAULT_BAD_NONCE_RETRIES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bad_nonce_retries = bad_nonce_retries
        self.bad_nonce_count = 0
        """How many badNonce rejections were absorbed (visible to tests and metrics)."""

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            response: requests.Response = super()._send_request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            raise AcmeNetworkError(f"{method} {url}: {exc}") from exc
        # Keep the nonce of every answer, errors included: a badNonce rejection carries a
        # fresh one, which saves the extra HEAD round trip the library would make.
        nonce = response.headers.get(self.REPLAY_NONCE_HEADER)
        if nonce:
            try:
                self._nonces.add(jws.Header._fields["nonce"].decode(nonce))
            except DeserializationError:
                log.debug("ignoring undecodable nonce %r", nonce)
        return response

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        try:
            checked: requests.Response = super()._check_response(response, content_type=content_type)
        except messages.Error as error:
            raise problem_from_response(response, error) from error
        except acme_errors.ClientError as error:
            if response.ok:  # e.g. a 200 that is not the JSON the caller expects
                raise AcmeProtocolError(f"{response.url}: {error}") from error
            raise problem_from_response(response, None) from error
        return checked

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            try:
                response: requests.Response = self._post_once(*args, **dict(kwargs))
                return response
            except AcmeProblemError as error:
                if error.code != "badNonce" or attempt >= self.bad_nonce_retries:
                    raise
                attempt += 1
                self.bad_nonce_count += 1
                log.debug("badNonce, retry %d with the nonce from the rejection", attempt)
