"""Transit encryption of staged parts, the claim check between exporter and encryptor.

The design: docs/pipeline.md, "Transit encryption and the claim check".

Each part gets a fresh 256-bit data key. The staged object is ``nonce (12) ‖ ciphertext ‖ tag (16)``
of AES-256-GCM, with the part's identity as associated data so a staged object cannot be swapped
for another part's. The data key travels in the ``PartStaged`` message wrapped with the transit
key (AES key wrap, RFC 3394), which only the exporter and the encryptor hold.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import GCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from cdds_shared.errors import ConfigError, PermanentError

__all__ = [
    "OVERHEAD",
    "TransitDecryptor",
    "TransitEncryptor",
    "TransitError",
    "TransitKey",
    "part_aad",
]

NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
"""Bytes a staged object has beyond its plaintext."""


class TransitError(PermanentError):
    """A staged part or its wrapped key does not authenticate."""


def part_aad(run_id: str, partition: int, part: int) -> bytes:
    return f"cdds-part:{run_id}:{partition}:{part}".encode()


class TransitKey:
    """The key that wraps per-part data keys."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("CDDS_TRANSIT__KEY: must be base64 of exactly 32 bytes")
        self._key = key

    @classmethod
    def from_base64(cls, value: str) -> TransitKey:
        try:
            return cls(base64.b64decode(value, validate=True))
        except ValueError:  # binascii.Error, or non-ASCII text
            raise ConfigError("CDDS_TRANSIT__KEY: not valid base64") from None

    def new_data_key(self) -> tuple[bytes, str]:
        """A fresh data key and its wrapped form (base64) for the message."""
        data_key = os.urandom(32)
        return data_key, base64.b64encode(aes_key_wrap(self._key, data_key)).decode()

    def unwrap(self, wrapped: str) -> bytes:
        try:
            return aes_key_unwrap(self._key, base64.b64decode(wrapped, validate=True))
        except (InvalidUnwrap, binascii.Error, ValueError):
            raise TransitError(
                "the part's data key does not unwrap: exporter and encryptor must share "
                "CDDS_TRANSIT__KEY"
            ) from None


class TransitEncryptor:
    """Streams one staged object: ``header()``, ``update()``…, ``finalize()``."""

    def __init__(self, data_key: bytes, aad: bytes) -> None:
        self._nonce = os.urandom(NONCE_SIZE)
        self._enc = Cipher(AES(data_key), GCM(self._nonce)).encryptor()
        self._enc.authenticate_additional_data(aad)

    def header(self) -> bytes:
        return self._nonce

    def update(self, data: bytes) -> bytes:
        return self._enc.update(data)

    def finalize(self) -> bytes:
        return self._enc.finalize() + self._enc.tag


class TransitDecryptor:
    """Streams a staged object of known size back to plaintext.

    ``update`` returns plaintext that is unauthenticated until ``finalize`` succeeds; callers must
    discard everything they produced from it when ``finalize`` raises.
    """

    def __init__(self, data_key: bytes, aad: bytes, size: int) -> None:
        if size < OVERHEAD:
            raise TransitError(f"staged part is {size} bytes, shorter than its envelope")
        self._key, self._aad = data_key, aad
        self._remaining_body = size - OVERHEAD
        self._head = bytearray()
        self._tail = bytearray()
        self._cipher: AEADDecryptionContext | None = None

    def update(self, data: bytes) -> bytes:
        view = memoryview(data)
        if self._cipher is None:
            need = NONCE_SIZE - len(self._head)
            self._head += view[:need]
            view = view[need:]
            if len(self._head) < NONCE_SIZE:
                return b""
            self._cipher = Cipher(AES(self._key), GCM(bytes(self._head))).decryptor()
            self._cipher.authenticate_additional_data(self._aad)
        body = view[: self._remaining_body]
        self._remaining_body -= len(body)
        self._tail += view[len(body) :]
        if len(self._tail) > TAG_SIZE:
            raise TransitError("staged part is longer than announced")
        return self._cipher.update(body) if body else b""

    def finalize(self) -> None:
        if self._cipher is None or self._remaining_body or len(self._tail) != TAG_SIZE:
            raise TransitError("staged part is truncated")
        try:
            self._cipher.finalize_with_tag(bytes(self._tail))
        except InvalidTag:
            raise TransitError("staged part does not authenticate (altered or wrong key)") from None
