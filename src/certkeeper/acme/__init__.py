"""The ACME protocol layer and the host solvers, used by the Order/Challenge controllers.

- :mod:`.client` — :class:`~.client.AcmeClient` on certbot's ``acme`` library: accounts
  (EAB), orders, authorizations, challenges, finalize, certificate download with
  preferredChain; typed errors in :mod:`.errors`; dataclass resources in :mod:`.resources`.
- :mod:`.keyauth` — Challenge ``key`` values (HTTP-01 key authorization, DNS-01 TXT value).
- :mod:`.http01` — built-in responder, webroot writer, self-check.
- :mod:`.dns01` — provider protocol and registry, RFC 2136, zone discovery, propagation check.
"""
