"""The daemon's main worker on SQLite reconciles what is ready together in one store
transaction. The issuances come out the same, and a change that a reconcile of the batch
had already seen when it ran does not queue that reconcile again after the commit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from certkeeper.api.core import Secret

from .harness import CA_SETUP, Harness, leaf_certificate

NAMES = [f"web{i}" for i in range(5)]


def issue(tmp: Path, batched: bool) -> tuple[Harness, int]:
    h = Harness(tmp)
    h.apply(CA_SETUP)
    h.settle(batched=batched)
    before = h.manager.syncs
    for name in NAMES:
        h.apply(leaf_certificate(name))
    h.settle(batched=batched)
    return h, h.manager.syncs - before


def test_batched_issuance_is_the_same_issuance(tmp_path: Path) -> None:
    h, _ = issue(tmp_path, batched=True)
    try:
        for name in NAMES:
            assert h.ready(name) == ("True", "Ready", "Certificate is up to date and has not expired")
            h.assert_pair_matches(name)
            assert h.leaf(name).subject.rfc4514_string() == ""
            secret = h.get(Secret, name)
            assert secret.annotations()["cert-manager.io/certificate-name"] == name
            assert [cr.name for cr in h.requests(name)] == [f"{name}-1"]
            assert h.cert(name).status.revision == 1  # type: ignore[union-attr]
    finally:
        h.close()


def test_batches_cost_hardly_more_reconciles_than_single_commits(tmp_path: Path) -> None:
    (tmp_path / "single").mkdir()
    (tmp_path / "batched").mkdir()
    single, single_syncs = issue(tmp_path / "single", batched=False)
    single.close()
    batched, batched_syncs = issue(tmp_path / "batched", batched=True)
    batched.close()
    # without the seen versions each issuance costs about two reconciles more
    assert batched_syncs <= single_syncs + len(NAMES) + 2, (batched_syncs, single_syncs)


def test_a_batch_is_in_flight_until_its_commit(tmp_path: Path) -> None:
    """``idle()`` (the daemon's "initial sync done") must not be true between a batch's
    last reconcile and its commit, when the work the batch causes is not queued yet."""
    h = Harness(tmp_path)
    seen_idle: list[bool] = []
    transaction = h.store.transaction

    @contextlib.contextmanager
    def watched() -> Iterator[None]:
        with transaction():
            yield
            seen_idle.append(h.manager.idle())  # the batch is done, its commit comes next

    h.store.transaction = watched  # type: ignore[method-assign]
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        h.settle(batched=True)
        assert h.ready("web") is not None and h.ready("web")[0] == "True"  # type: ignore[index]
        assert seen_idle and not any(seen_idle)
    finally:
        h.close()
