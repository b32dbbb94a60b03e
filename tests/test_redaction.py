"""The one redactor: remembered values and secret-shaped text are masked."""

from __future__ import annotations

import base64

from harvester_conformance.emulator import pki
from harvester_conformance.reporting.redact import MASK, Redactor


def test_remembered_values_and_their_base64_are_masked() -> None:
    r = Redactor()
    r.add_secret_data({"token": base64.b64encode(b"s3cr3t-token-value").decode()})
    out = r("got s3cr3t-token-value and " + base64.b64encode(b"s3cr3t-token-value").decode())
    assert "s3cr3t" not in out and out.count(MASK) == 2


def test_private_keys_and_jwts_are_masked_without_being_remembered() -> None:
    key = pki.make_ca("x", pki.dt.timedelta(hours=1)).key_pem.decode()
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    out = Redactor()(f"key {key} jwt {jwt} b64 {base64.b64encode(key.encode()).decode()}")
    assert "PRIVATE KEY" not in out and jwt not in out and "LS0tLS1CRUdJTi" not in out


def test_a_rancher_token_keeps_its_public_name_and_its_secret_registered_from_a_shape_is_masked_alone() -> None:
    r = Redactor()
    secret = "q7w2e9r4t1y8u5i3o6p0a2s5d8f1g4h7j0k3l6z9x2c5v8"
    assert r(f"token kubeconfig-u-7hq2x:{secret}") == f"token kubeconfig-u-7hq2x:{MASK}"
    assert r(f"quoted alone: {secret}") == f"quoted alone: {secret}"  # nothing registered yet
    r.add_shapes(f"{{unbalanced: [kubeconfig-u-7hq2x:{secret}, password: hunter2-hunter2")
    assert r(f"quoted alone: {secret} then hunter2-hunter2") == f"quoted alone: {MASK} then {MASK}"
