"""ACME controllers: Orders, Challenges and the Challenge scheduler (spec §4).

``factories`` is what the daemon looks up; the ACME signer (issuers/acme.py) plugs into the
generic request controller and creates the Orders these controllers drive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...runtime.controller import Context, Controller

if TYPE_CHECKING:
    from ...daemon import DaemonOptions


def factories(opts: DaemonOptions) -> list[Callable[[Context], Controller]]:
    from .ari import RenewalInfoController  # noqa: PLC0415 - keep the package import light
    from .challenges import ChallengeController  # noqa: PLC0415
    from .orders import OrderController  # noqa: PLC0415
    from .scheduler import ChallengeScheduler  # noqa: PLC0415

    limit = opts.max_concurrent_challenges
    return [OrderController, ChallengeController, lambda ctx: ChallengeScheduler(ctx, limit), RenewalInfoController]


def stop_services(ctx: Context) -> None:
    """Stop what the ACME controllers started in ``ctx.services`` (the HTTP-01 listener)."""
    from .solvers import stop_responder  # noqa: PLC0415

    stop_responder(ctx)
