"""DNS over HTTPS (RFC 8484, POST) for solver ``nameservers`` given as ``https://`` URLs,
as cert-manager accepts them; answers are capped at 128 KiB."""

from __future__ import annotations

import dns.exception
import dns.message
import requests

MAX_ANSWER_BYTES = 128 * 1024
CONTENT_TYPE = "application/dns-message"


class DoHError(Exception):
    """The DoH server could not be asked or answered something that is not DNS."""


def doh_query(request: dns.message.Message, url: str, *, timeout: float) -> dns.message.Message:
    """POST one wire-format query; TLS trust as requests does it (system or
    REQUESTS_CA_BUNDLE)."""
    try:
        with requests.post(
            url,
            data=request.to_wire(),
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            timeout=timeout,
            stream=True,
        ) as response:
            if response.status_code != 200:
                raise DoHError(f"{url}: HTTP {response.status_code}")
            body = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise DoHError(f"{url}: {exc}") from exc
    if len(body) > MAX_ANSWER_BYTES:
        raise DoHError(f"{url}: answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        answer = dns.message.from_wire(body)
    except dns.exception.DNSException as exc:
        raise DoHError(f"{url}: not a DNS message: {exc}") from exc
    if answer.id != request.id:
        raise DoHError(f"{url}: answer id {answer.id} does not match query id {request.id}")
    return answer
