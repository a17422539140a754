"""secrets-files: the host-side projection of Secrets to files, and the renewal hook.

Every Secret becomes ``DIR/<namespace>/<name>/<key>``, swapped atomically; when the files
of a certificate's Secret change, the ``--on-renew`` command runs with the certificate's
namespace, name and folder in its environment.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..api import constants as c
from ..api.core import Secret
from ..runtime.controller import Context, Controller, Result
from ..runtime.queue import Key
from ..store.files import SecretProjector
from ..store.hooks import run_hook


class SecretFilesController(Controller):
    name = "secrets-files"
    primary = Secret
    backoff_base = dt.timedelta(seconds=1)
    backoff_cap = dt.timedelta(minutes=5)
    pool = "io"  # the hook may run for minutes

    def __init__(self, ctx: Context, root: Path, on_renew: str | None = None) -> None:
        super().__init__(ctx)
        self.projector = SecretProjector(root)
        self.on_renew = on_renew

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        secret = self.store.try_get(Secret, ns, name)
        if secret is None:
            self.projector.remove(ns or "", name)
            return None
        if secret.labels().get(c.LABEL_NEXT_PRIVATE_KEY) == "true":
            return None  # a key waiting for its certificate is nobody's business yet
        changed = self.projector.project(secret)
        cert_name = secret.annotations().get(c.ANN_CERTIFICATE_NAME)
        if changed and cert_name and self.on_renew:
            folder = self.projector.folder(ns or "", name)
            result = run_hook(
                self.on_renew,
                {
                    "CERTKEEPER_NAMESPACE": ns or "",
                    "CERTKEEPER_CERTIFICATE": cert_name,
                    "CERTKEEPER_SECRET": name,
                    "CERTKEEPER_DIR": str(folder),
                },
            )
            if result.returncode != 0:
                self.log.warning("on-renew hook for %s/%s exited %s: %s", ns, cert_name, result.returncode,
                                 result.output[-500:])
            else:
                self.log.info("on-renew hook for %s/%s ran", ns, cert_name)
        return None
