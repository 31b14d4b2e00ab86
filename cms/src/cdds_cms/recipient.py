"""Who a file is sealed for: one X.509 certificate with an RSA key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding

from cdds_cms.errors import InvalidRecipient

__all__ = ["MIN_RSA_BITS", "Recipient", "SealMode"]

SealMode = Literal["gcm", "legacy-cbc"]

# NIST SP 800-57 / BSI TR-02102: RSA below 2048 bits no longer protects data for years.
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class Recipient:
    """The certificate a file is sealed for; build it with :meth:`load`."""

    certificate: x509.Certificate

    @classmethod
    def load(cls, data: bytes) -> Recipient:
        """Read one certificate, PEM or DER.

        Raises:
            InvalidRecipient: not exactly one X.509 certificate, or its key is not RSA of at
                least ``MIN_RSA_BITS`` bits.
        """
        certificates = _parse(data)
        if len(certificates) != 1:
            raise InvalidRecipient(
                f"expected one X.509 certificate, found {len(certificates)} in the PEM data"
            )
        certificate = certificates[0]
        key = certificate.public_key()
        if not isinstance(key, RSAPublicKey):
            raise InvalidRecipient(
                f"the certificate's key is {_key_kind(key)}; sealing needs an RSA key"
            )
        if key.key_size < MIN_RSA_BITS:
            raise InvalidRecipient(
                f"the certificate's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} "
                "are required"
            )
        return cls(certificate)

    @property
    def public_key(self) -> RSAPublicKey:
        key = self.certificate.public_key()
        assert isinstance(key, RSAPublicKey)  # checked by load()
        return key

    @property
    def fingerprint_sha256(self) -> str:
        """SHA-256 of the certificate's DER, lower-case hex (as ``openssl x509 -fingerprint``)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)


def _parse(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
        raise InvalidRecipient("not an X.509 certificate: the PEM data has no CERTIFICATE block")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:  # cryptography's parser detail would not help the user
        raise InvalidRecipient("not an X.509 certificate in PEM or DER form") from None


def _key_kind(key: object) -> str:
    curve = getattr(key, "curve", None)
    name = type(key).__name__.removeprefix("_").removesuffix("PublicKey") or "unknown"
    return f"{name} ({curve.name})" if curve is not None else name
