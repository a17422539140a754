"""challenges-scheduler: decides which Challenges may be worked on now (§4.4).

At most ``max_concurrent_challenges`` are processing at once, oldest first, and never two
for the same (dnsName, type): a wildcard and its base name share the ``_acme-challenge``
record, and presenting both at once would make one validation see the other's value.
cert-manager runs this every second; here a Challenge change that can alter the schedule
wakes it instead, so a freed slot is taken at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...api.acme import Challenge, ChallengeStatus, is_final_state
from ...runtime.controller import Context, Controller, Mapper, Result
from ...runtime.queue import Key
from ...store.base import Conflict, EventType, NotFound, WatchEvent

SCHEDULER_KEY: Key = (None, "*")


def _changes_schedule(event: WatchEvent) -> Iterable[Key]:
    """A Challenge that is processing neither waits for a slot nor frees one: its updates
    (presented, accepted, polled) cannot change what to start, so they do not wake the
    scheduler; a new one, one that stopped processing, and a deleted one do."""
    obj = event.obj
    if event.type != EventType.DELETED and isinstance(obj, Challenge) and obj.status and obj.status.processing:
        return []
    return [SCHEDULER_KEY]


def schedule(challenges: list[Challenge], limit: int) -> list[Challenge]:
    """The Challenges to start now."""
    processing = [c for c in challenges if c.status is not None and c.status.processing]
    busy = {(c.spec.dns_name, c.spec.type) for c in processing}
    room = limit - len(processing)
    candidates = sorted(
        (
            c for c in challenges
            if not (c.status and c.status.processing)
            and not is_final_state(c.status.state if c.status else None)
            and not c.metadata.deletion_timestamp
        ),
        key=lambda c: (c.metadata.creation_timestamp or "", c.namespace or "", c.name),
    )
    picked = []
    for c in candidates:
        if room <= 0:
            break
        ident = (c.spec.dns_name, c.spec.type)
        if ident in busy:
            continue
        busy.add(ident)
        picked.append(c)
        room -= 1
    return picked


class ChallengeScheduler(Controller):
    name = "challenges-scheduler"
    primary = Challenge

    def __init__(self, ctx: Context, max_concurrent: int) -> None:
        super().__init__(ctx)
        self.max_concurrent = max_concurrent

    def watches(self) -> list[tuple[str, Mapper]]:
        return [("Challenge", _changes_schedule)]

    def reconcile(self, key: Key) -> Result | None:
        raced = False
        for ch in schedule(self.store.list(Challenge), self.max_concurrent):
            if ch.status is None:
                ch.status = ChallengeStatus()
            ch.status.processing = True
            try:
                self.store.update_status(ch)
            except (Conflict, NotFound):
                raced = True  # changed meanwhile: the change event brings us back
                continue
            self.recorder.event(ch, "Normal", "Started", "Challenge scheduled for processing")
        if raced:
            raise Conflict("a Challenge changed while it was being scheduled")
        return None
