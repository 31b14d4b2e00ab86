"""Streaming CMS encoder: one file of known length in, DER ``.p7m`` out, in constant memory.

The content length is known up front and the ciphertext length follows from it (equal for
GCM, padded to the next block for CBC), so every DER length is definite and written before the
first byte of ciphertext: header, ciphertext chunks, trailer.

``gcm`` (default) is AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) and RSAES-OAEP
SHA-256 key transport (RFC 8017, RFC 4055). ``legacy-cbc`` is EnvelopedData (RFC 5652 §6) with
AES-256-CBC (RFC 3565) and, unlike ``gcm``, RSAES-PKCS1-v1_5 key transport: ``openssl smime``
(the PKCS#7 code) cannot unwrap OAEP keys. It has no integrity protection; use it only for
readers that cannot handle AuthEnvelopedData.
"""

from __future__ import annotations

import os

from asn1crypto import cms, x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import (
    AEADEncryptionContext,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from cdds_cms.asn1 import (
    DATA,
    GCM_ICV_LENGTH,
    GCM_NONCE_LENGTH,
    OAEP_SHA256,
    OID_AUTH_ENVELOPED_DATA,
    OID_ENVELOPED_DATA,
    RSA_PKCS1V15,
    ContentEncryptionAlgorithm,
    GcmParameters,
    der_header,
    der_tlv,
)
from cdds_cms.recipient import Recipient, SealMode

__all__ = ["MAX_GCM_CONTENT_LENGTH", "Sealer", "envelope_overhead", "sealed_size"]

KEY_LENGTH = 32  # AES-256
BLOCK = 16
# NIST SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext per (key, nonce).
MAX_GCM_CONTENT_LENGTH = (2**39 - 256) // 8
_VERSION_0 = b"\x02\x01\x00"  # CMSVersion v0: RFC 5083 §2.1; RFC 5652 §6.1 for ktri-only


def _ciphertext_length(mode: SealMode, content_length: int) -> int:
    # PKCS#7 padding (RFC 5652 §6.3) always adds 1..16 bytes.
    return content_length if mode == "gcm" else (content_length // BLOCK + 1) * BLOCK


def _trailer_length(mode: SealMode) -> int:
    return 2 + GCM_ICV_LENGTH if mode == "gcm" else 0  # mac OCTET STRING


class _Envelope:
    """The DER around the ciphertext, from the parts that vary per file."""

    def __init__(self, recipient: Recipient, mode: SealMode, encrypted_key: bytes, iv: bytes):
        if mode not in ("gcm", "legacy-cbc"):
            raise ValueError(f"unknown seal mode {mode!r}; use 'gcm' or 'legacy-cbc'")
        self.mode = mode
        self.recipient_infos = _recipient_infos(recipient, mode, encrypted_key)
        self.algorithm = _content_algorithm(mode, iv)

    def header(self, content_length: int) -> bytes:
        ciphertext = _ciphertext_length(self.mode, content_length)
        content_header = der_header(0x80, ciphertext)  # [0] IMPLICIT OCTET STRING, primitive
        info_length = len(DATA) + len(self.algorithm) + len(content_header) + ciphertext
        info_header = der_header(0x30, info_length)  # EncryptedContentInfo
        body_length = (
            len(_VERSION_0)
            + len(self.recipient_infos)
            + len(info_header)
            + info_length
            + _trailer_length(self.mode)
        )
        body_header = der_header(0x30, body_length)  # (Auth)EnvelopedData
        explicit = der_header(0xA0, len(body_header) + body_length)  # content [0] EXPLICIT
        content_type = cms.ContentType(
            OID_AUTH_ENVELOPED_DATA if self.mode == "gcm" else OID_ENVELOPED_DATA
        ).dump()
        outer = der_header(0x30, len(content_type) + len(explicit) + len(body_header) + body_length)
        return b"".join(
            (
                outer,  # ContentInfo, RFC 5652 §3
                content_type,
                explicit,
                body_header,
                _VERSION_0,
                self.recipient_infos,
                info_header,
                DATA,
                self.algorithm,
                content_header,  # then the ciphertext, then the trailer
            )
        )

    def size(self, content_length: int) -> int:
        return (
            len(self.header(content_length))
            + _ciphertext_length(self.mode, content_length)
            + _trailer_length(self.mode)
        )


def _recipient_infos(recipient: Recipient, mode: SealMode, encrypted_key: bytes) -> bytes:
    certificate = x509.Certificate.load(recipient.der)
    tbs = certificate["tbs_certificate"]
    algorithm = OAEP_SHA256 if mode == "gcm" else RSA_PKCS1V15
    ktri = cms.KeyTransRecipientInfo(
        {
            "version": "v0",  # issuerAndSerialNumber: RFC 5652 §6.2.1
            "rid": cms.RecipientIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber(
                    {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}
                ),
            ),
            "key_encryption_algorithm": cms.KeyEncryptionAlgorithm.load(algorithm),
            "encrypted_key": encrypted_key,
        }
    )
    dumped: bytes = cms.RecipientInfos([cms.RecipientInfo(name="ktri", value=ktri)]).dump()
    return dumped


def _content_algorithm(mode: SealMode, iv: bytes) -> bytes:
    if mode == "gcm":
        parameters = GcmParameters({"aes_nonce": iv, "aes_icvlen": GCM_ICV_LENGTH})
        spec = {"algorithm": "aes256_gcm", "parameters": parameters}
    else:
        spec = {"algorithm": "aes256_cbc", "parameters": iv}  # IV OCTET STRING, RFC 3565 §4.1
    dumped: bytes = ContentEncryptionAlgorithm(spec).dump()
    return dumped


def _placeholder(recipient: Recipient, mode: SealMode) -> _Envelope:
    # RSA output is always the modulus length (RFC 8017 §5.1.1), so zeros size it exactly.
    modulus_bytes = (recipient.public_key.key_size + 7) // 8
    iv = bytes(GCM_NONCE_LENGTH if mode == "gcm" else BLOCK)
    return _Envelope(recipient, mode, bytes(modulus_bytes), iv)


def sealed_size(recipient: Recipient, content_length: int, mode: SealMode = "gcm") -> int:
    """Exact size of the sealed file for ``content_length`` bytes of content."""
    return _placeholder(recipient, mode).size(content_length)


def envelope_overhead(recipient: Recipient, max_content_length: int, mode: SealMode = "gcm") -> int:
    """Upper bound of ``sealed_size(n) - n`` for every ``0 <= n <= max_content_length``."""
    # DER lengths only grow with n, so the largest n has the largest header; after it come the
    # GCM tag, or up to one block of CBC padding.
    header = len(_placeholder(recipient, mode).header(max_content_length))
    return header + (_trailer_length(mode) if mode == "gcm" else BLOCK)


class Sealer:
    """Streaming encoder for ONE file of known plaintext length.

    Call :meth:`header`, then :meth:`update` for each chunk, then :meth:`finalize`; the
    concatenated results are the ``.p7m`` file, exactly :attr:`total_size` bytes long.
    """

    def __init__(self, recipient: Recipient, content_length: int, *, mode: SealMode = "gcm"):
        if content_length < 0:
            raise ValueError("content_length must not be negative")
        if mode == "gcm" and content_length > MAX_GCM_CONTENT_LENGTH:
            raise ValueError(f"AES-GCM seals at most {MAX_GCM_CONTENT_LENGTH} bytes per file")
        self.content_length = content_length
        self.mode: SealMode = mode
        key = os.urandom(KEY_LENGTH)  # a fresh key per file, so the random nonce never repeats
        iv = os.urandom(GCM_NONCE_LENGTH if mode == "gcm" else BLOCK)
        self._encryptor: CipherContext
        if mode == "gcm":
            transport: rsa_padding.AsymmetricPadding = rsa_padding.OAEP(
                mgf=rsa_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
            )
            self._encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        else:
            transport = rsa_padding.PKCS1v15()
            self._encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        envelope = _Envelope(recipient, mode, recipient.public_key.encrypt(key, transport), iv)
        self._header = envelope.header(content_length)
        self.total_size = envelope.size(content_length)
        self._padder = padding.PKCS7(BLOCK * 8).padder() if mode == "legacy-cbc" else None
        self._seen = 0
        self._state = "new"

    def header(self) -> bytes:
        """The DER before the ciphertext; call first, once."""
        self._advance("new", "open")
        return self._header

    def update(self, data: bytes) -> bytes:
        """Ciphertext for these content bytes (in CBC mode, whole blocks only)."""
        self._advance("open", "open")
        self._seen += len(data)
        if self._seen > self.content_length:
            raise ValueError(f"more than the declared {self.content_length} content bytes")
        if self._padder is not None:
            data = self._padder.update(data)
        return self._encryptor.update(data)

    def finalize(self) -> bytes:
        """The rest of the file: the last CBC block, or the GCM tag as ``mac`` (RFC 5083 §2.1).

        Raises:
            ValueError: the content bytes given differ from ``content_length``.
        """
        self._advance("open", "done")
        if self._seen != self.content_length:
            raise ValueError(
                f"got {self._seen} content bytes but {self.content_length} were declared"
            )
        if self._padder is not None:
            return self._encryptor.update(self._padder.finalize()) + self._encryptor.finalize()
        self._encryptor.finalize()
        assert isinstance(self._encryptor, AEADEncryptionContext)
        return der_tlv(0x04, self._encryptor.tag)

    def _advance(self, expected: str, new: str) -> None:
        if self._state != expected:
            raise RuntimeError("call Sealer.header(), then update() per chunk, then finalize()")
        self._state = new
