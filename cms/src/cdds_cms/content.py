"""Keys and ciphers for the reader: RSA key transport (RFC 8017) and AES-GCM / AES-CBC content.

Failures come back as plain values or exceptions (``[]``, ``None``, ``ValueError``,
``InvalidTag``); :mod:`cdds_cms.opener` turns them into ``IntegrityError`` messages.
"""

from __future__ import annotations

from typing import Protocol

from asn1crypto import algos, cms, core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cdds_cms.asn1 import ContentEncryptionAlgorithm

__all__ = ["ContentDecryptor", "content_decryptor", "unwrap_keys"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_GCM_KEY_LENGTHS = {"aes128_gcm": 16, "aes192_gcm": 24, "aes256_gcm": 32}
_CBC_KEY_LENGTHS = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}


class ContentDecryptor(Protocol):
    def update(self, data: bytes) -> bytes: ...

    def finalize(self, mac: bytes | None) -> bytes:
        """The last plaintext; raises ``InvalidTag`` or ``ValueError`` if it does not verify."""
        ...


def unwrap_keys(key: RSAPrivateKey, recipient_infos: bytes) -> list[bytes]:
    """Every content key ``key`` recovers from the KeyTransRecipientInfos (RFC 5652 §6.2.1).

    Trial decryption rather than matching issuerAndSerialNumber: the reader holds a private
    key, not necessarily its certificate. PKCS#1 v1.5 with implicit rejection may "succeed"
    with a wrong key, so the caller still checks the key length and the tag.
    """
    modulus_bytes = (key.key_size + 7) // 8
    found = []
    for info in cms.RecipientInfos.load(recipient_infos):
        if info.name != "ktri":
            continue  # key agreement, KEK and password recipients need other keys
        ktri = info.chosen
        encrypted: bytes = ktri["encrypted_key"].native
        transport = _transport(ktri["key_encryption_algorithm"])
        if transport is None or len(encrypted) != modulus_bytes:
            continue
        try:
            found.append(key.decrypt(encrypted, transport))
        except ValueError:
            continue
    return found


def _transport(algorithm: cms.KeyEncryptionAlgorithm) -> rsa_padding.AsymmetricPadding | None:
    name = algorithm["algorithm"].native
    if name == "rsaes_pkcs1v15":
        return rsa_padding.PKCS1v15()
    if name != "rsaes_oaep":
        return None
    params = algorithm["parameters"]
    if isinstance(params, core.Void):
        params = algos.RSAESOAEPParams({})  # every field has a default (RFC 8017 A.2.1)
    mgf = params["mask_gen_algorithm"]
    digest = _HASHES.get(params["hash_algorithm"]["algorithm"].native)
    mgf_digest = _HASHES.get(mgf["parameters"]["algorithm"].native)
    if digest is None or mgf_digest is None or mgf["algorithm"].native != "mgf1":
        return None
    label = params["p_source_algorithm"]["parameters"].native or None
    return rsa_padding.OAEP(mgf=rsa_padding.MGF1(mgf_digest()), algorithm=digest(), label=label)


def content_decryptor(
    algorithm: bytes, keys: list[bytes], authenticated: bool
) -> ContentDecryptor | None:
    """A decryptor for this AlgorithmIdentifier, or ``None`` if no key has the right length.

    Raises:
        ValueError: the algorithm or its parameters are not supported.
    """
    parsed = ContentEncryptionAlgorithm.load(algorithm)
    name = parsed["algorithm"].native
    lengths = _GCM_KEY_LENGTHS if authenticated else _CBC_KEY_LENGTHS
    if name not in lengths:
        kind = "AuthEnvelopedData" if authenticated else "EnvelopedData"
        raise ValueError(f"{name} in {kind} is not supported")
    key = next((k for k in keys if len(k) == lengths[name]), None)
    if key is None:
        return None
    if not authenticated:
        return _Cbc(key, parsed["parameters"].native)
    nonce: bytes = parsed["parameters"]["aes_nonce"].native
    icv_length: int = parsed["parameters"]["aes_icvlen"].native
    if not 12 <= icv_length <= 16:  # RFC 5084 §3.2
        raise ValueError(f"GCM ICV length {icv_length} is outside 12..16")
    return _Gcm(key, nonce, icv_length)


class _Gcm:
    """AES-GCM, RFC 5084; no authAttrs, so no additional authenticated data (RFC 5083 §2.1)."""

    def __init__(self, key: bytes, nonce: bytes, icv_length: int) -> None:
        mode = modes.GCM(nonce, min_tag_length=icv_length)
        self._context = Cipher(algorithms.AES(key), mode).decryptor()
        self._icv_length = icv_length

    def update(self, data: bytes) -> bytes:
        return self._context.update(data)

    def finalize(self, mac: bytes | None) -> bytes:
        if mac is None or len(mac) != self._icv_length:
            raise InvalidTag
        return self._context.finalize_with_tag(mac)


class _Cbc:
    """AES-CBC with PKCS#7 padding, RFC 3565 / RFC 5652 §6.3; no integrity check."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._context = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._unpadder = padding.PKCS7(128).unpadder()

    def update(self, data: bytes) -> bytes:
        return self._unpadder.update(self._context.update(data))

    def finalize(self, mac: bytes | None) -> bytes:
        tail = self._unpadder.update(self._context.finalize())
        return tail + self._unpadder.finalize()
