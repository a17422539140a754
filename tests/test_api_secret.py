"""Secret admission: base64 data and valid keys; key material never echoed in errors."""

from __future__ import annotations

from certkeeper.api.loader import load_documents

GOOD = """
apiVersion: v1
kind: Secret
metadata: {name: ok}
data: {tls.key: aGVsbG8=}
stringData: {note: plain text is fine here}
"""

BAD = """
apiVersion: v1
kind: Secret
metadata: {name: bad}
data:
  tls.key: "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t not base64 !"
  "../escape": aGVsbG8=
"""


def test_valid_secret_is_accepted() -> None:
    result = load_documents(GOOD)
    assert result.errors == []


def test_bad_base64_and_bad_keys_are_refused_without_echoing_data() -> None:
    result = load_documents(BAD)
    text = "\n".join(result.errors)
    assert "data[tls.key]: Invalid value: illegal base64 data" in text
    assert 'data[../escape]: Invalid value: "../escape"' in text
    assert "LS0tLS1CRUdJTi" not in text
