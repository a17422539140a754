"""``certkeeper webhook``: cert-manager's admission webhook for the API server.

The same checks ``certkeeper apply`` runs on a host (``api/validation``) served as
``admission.k8s.io/v1`` AdmissionReviews, so a ``kubectl apply`` of a bad manifest is
refused at once with the field path instead of being stored and failing later; plus what
only an API server can know: who created a CertificateRequest, and whether the user who
approves it may approve for its issuer.
"""
