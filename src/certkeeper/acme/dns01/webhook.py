"""``dns01.webhook``: cert-manager's shape for solvers outside its tree.

``groupName: lexicon.certkeeper.io`` is solved in process by dns-lexicon (``solverName`` is
the lexicon provider), so a manifest stays valid for cert-manager's API while reaching
every provider lexicon knows. Any other group is one of cert-manager's external webhook
servers, which are called through the Kubernetes API aggregation layer: there is none on
a host, so such a Challenge waits with a reason that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.provider import DNS01Provider, DNS01Unsupported, ProviderContext, register_provider

LEXICON_GROUP = "lexicon.certkeeper.io"


def from_config(config: Mapping[str, Any], context: ProviderContext) -> DNS01Provider:
    group = str(config.get("groupName") or "")
    solver = str(config.get("solverName") or "")
    if group == LEXICON_GROUP:
        from certkeeper.acme.dns01 import lexicon  # noqa: PLC0415 - loads dns-lexicon

        return lexicon.from_webhook(solver, config.get("config"), context)
    raise DNS01Unsupported(
        f'webhook solver "{solver}" of group "{group}" is an external cert-manager webhook server, which '
        "certkeeper cannot call (it is reached through the Kubernetes API aggregation layer); use "
        f'groupName "{LEXICON_GROUP}" with a dns-lexicon provider as solverName, or a built-in provider'
    )


register_provider("webhook", from_config)
