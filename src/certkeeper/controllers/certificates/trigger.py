"""certificates-trigger: decides that a Certificate needs (re-)issuance and says why.

It sets ``Issuing=True`` with the first violated policy's reason; everything else follows
from that condition. Failure back-off (1h x 2^(n-1), capped at 32h) and renewal are
timers on the queue, never polling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

from ...api import constants as c
from ...api.certificate import Certificate
from ...api.meta import Resource, parse_time, set_condition
from ...pki.errors import PKIError
from ...pki.match import request_matches_spec
from ...runtime.controller import Result
from ...runtime.queue import Key
from ...store.base import EventType
from .base import CertificateController, issuing_state
from .gather import gather
from .policies import evaluate, trigger_chain
from .util import cert_index, is_issuing, owns_secret, status_of

DUPLICATE_RECHECK = dt.timedelta(minutes=3)


class TriggerController(CertificateController):
    name = "certificates-trigger"
    ignore_next_key_secrets = True
    # it reads the current request only; a deleted one changes its decision (fuzzy check)
    request_events = frozenset({EventType.DELETED})

    def wants(self, cert: Certificate) -> bool:
        return not is_issuing(cert)

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        s = cert.status
        if s is None:
            return (cert.metadata.generation,)
        return (
            cert.metadata.generation, issuing_state(cert), s.revision, s.last_failure_time,
            s.failed_issuance_attempts, s.renewal_time,
        )

    def initial_timer(self, obj: Resource) -> dt.timedelta | None:
        status = obj.status if isinstance(obj, Certificate) else None
        if status is None or not status.renewal_time:
            return None
        return max(parse_time(status.renewal_time) - self.clock.now(), dt.timedelta(0))

    def backoff_remaining(self, cert_status_failed: dt.datetime | None, attempts: int | None) -> dt.timedelta | None:
        if cert_status_failed is None:
            return None
        opts = self.ctx.options
        if opts.min_backoff <= dt.timedelta(0):
            return None
        n = attempts if attempts and attempts > 0 else 1
        delay: dt.timedelta = min(opts.min_backoff * (2 ** (n - 1)), opts.max_backoff)
        elapsed = self.clock.now() - cert_status_failed
        if elapsed < delay:
            remaining: dt.timedelta = delay - elapsed
            return remaining
        return None

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None or is_issuing(cert):
            return None
        owner, dupes = owns_secret(self.store, cert_index(self.ctx), cert)
        if not owner:
            self.log.info(
                "Certificate %s/%s does not own Secret %s (also named by %s); not triggering",
                cert.namespace, cert.name, cert.spec.secret_name, dupes,
            )
            return Result(requeue_after=DUPLICATE_RECHECK)

        input = gather(self.store, cert)
        status = status_of(cert)
        requeue: dt.timedelta | None = None

        failed_at = parse_time(status.last_failure_time) if status.last_failure_time else None
        if failed_at is not None:
            spec_changed = False
            if input.next_request is not None:
                try:
                    spec_changed = bool(request_matches_spec(input.next_request.spec, cert.spec))
                except PKIError:
                    spec_changed = True
            remaining = None if spec_changed else self.backoff_remaining(failed_at, status.failed_issuance_attempts)
            if remaining is not None:
                self.log.info(
                    "Certificate %s/%s: backing off for %s after %s failed issuance attempt(s)",
                    cert.namespace, cert.name, remaining, status.failed_issuance_attempts,
                )
                return Result(requeue_after=remaining)

        if status.renewal_time:
            until = parse_time(status.renewal_time) - self.clock.now()
            if until > dt.timedelta(0):
                requeue = until

        violation = evaluate(trigger_chain(self.clock.now), input)
        if violation is None:
            return Result(requeue_after=requeue)
        reason, message = violation
        status.conditions = set_condition(
            status.conditions, c.COND_ISSUING, "True", reason, message,
            self.clock.now(), cert.metadata.generation,
        )
        self.store.update_status(cert)
        self.recorder.event(cert, "Normal", "Issuing", message)
        return None
