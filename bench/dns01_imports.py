"""What a DNS-01 provider costs the daemon's process: import time and peak memory of the
daemon's modules alone, then with the Route 53 provider (boto3 and a Route 53 client) or a
dns-lexicon provider in use. Run each case in a fresh interpreter:

    python bench/dns01_imports.py none|route53|lexicon
"""

from __future__ import annotations

import resource
import sys
import time


def main(which: str) -> None:
    start = time.perf_counter()
    import certkeeper.controllers.acme.solvers  # noqa: F401
    import certkeeper.daemon  # noqa: F401
    from certkeeper.acme.dns01 import get_provider_factory

    get_provider_factory("rfc2136")
    daemon = time.perf_counter() - start
    if which == "route53":
        get_provider_factory("route53")
        import boto3

        boto3.session.Session().client("route53", region_name="us-east-1")
    elif which == "lexicon":
        get_provider_factory("webhook")
        import lexicon._private.providers.powerdns  # noqa: F401
        import lexicon.config  # noqa: F401
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loaded = [m for m in ("boto3", "lexicon") if m in sys.modules]
    print(f"{which}: daemon modules {daemon * 1000:.0f} ms, with the provider {total * 1000:.0f} ms, "
          f"peak RSS {peak:.1f} MiB, loaded: {', '.join(loaded) or 'neither boto3 nor lexicon'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "none")
