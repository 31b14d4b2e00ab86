"""The services' view of the CMS codec (``cdds_shared.crypto.cms``): a refused certificate is
``ValidationFailed`` (a 422 at the gateway, a failed run in the workers), and the recipient it
loads seals like the package's own."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import cdds_cms
from cdds_shared.crypto.cms import Recipient, Sealer
from cdds_shared.errors import ValidationFailed
from tests.cms.test_cms import make_identity

pytestmark = pytest.mark.unit


def test_a_refused_certificate_is_validation_failed() -> None:
    with pytest.raises(ValidationFailed, match=r"not an X\.509 certificate"):
        Recipient.load(b"not a certificate")


def test_the_loaded_recipient_is_the_packages() -> None:
    alice = make_identity(2048, "alice")
    pem = alice.certificate.public_bytes(Encoding.PEM)
    recipient = Recipient.load(pem)
    assert isinstance(recipient, cdds_cms.Recipient)
    assert recipient.fingerprint_sha256 == cdds_cms.Recipient.load(pem).fingerprint_sha256
    assert Sealer(recipient, 10).total_size == cdds_cms.sealed_size(recipient, 10)
