"""``certkeeper cainjector``: cert-manager's CA injector.

Whoever calls a webhook or an aggregated API server must trust its serving certificate;
the API server takes that trust from a ``caBundle`` in the object that names the
endpoint. The injector keeps those bundles equal to a CA that certkeeper (or the webhook's
own dynamic CA) maintains, so a rotated CA is trusted as soon as it exists.
"""
