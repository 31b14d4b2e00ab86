"""Streaming CMS decoder for AuthEnvelopedData (RFC 5083) and EnvelopedData (RFC 5652 §6).

It reads what :mod:`cdds_cms.sealer` writes and what ``openssl cms -encrypt -outform DER`` writes,
with or without ``-stream``: definite or indefinite lengths (BER), the encrypted content
primitive or split into OCTET STRING segments. Only the small parts (RecipientInfos, the
algorithm) are buffered; ciphertext flows through.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from asn1crypto import core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cdds_cms.asn1 import EOC, OID_AUTH_ENVELOPED_DATA, OID_ENVELOPED_DATA
from cdds_cms.content import ContentDecryptor, content_decryptor, unwrap_keys
from cdds_cms.errors import IntegrityError

__all__ = ["Opener"]

# RecipientInfos, originatorInfo and attributes are buffered whole; nothing legitimate comes
# near this, and garbage cannot make us buffer more.
SMALL_ELEMENT_LIMIT = 1 << 20

_Steps = Generator[None, None, None]


@dataclass(frozen=True)
class _Tlv:
    raw: bytes  # identifier and length octets
    tag: int  # first identifier octet: class, constructed bit and low tag number
    length: int | None  # None: indefinite
    end: int | None  # absolute offset just past the contents; None: indefinite


class Opener:
    """Streaming decoder; feed the sealed bytes, get plaintext back.

    The plaintext returned by :meth:`update` is UNAUTHENTICATED until :meth:`finalize`
    returns: write it somewhere provisional. Bad input raises :class:`IntegrityError` from
    :meth:`update` as soon as it is detected (a wrong key, a bad GCM tag once the ``mac`` is
    read) or from :meth:`finalize` (a truncated file, trailing data).

    legacy-cbc files (EnvelopedData) carry no integrity check: only the padding is verified.
    """

    def __init__(self, private_key: RSAPrivateKey) -> None:
        self._key = private_key
        self._buffer = bytearray()
        self._offset = 0  # absolute position of _buffer[0] in the file
        self._plaintext: list[bytes] = []
        self._steps = self._parse()
        self._parsed = False
        self._error: IntegrityError | None = None

    def update(self, data: bytes) -> bytes:
        """Feed the next sealed bytes (any chunk size); return the plaintext decoded so far."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        if not self._parsed:
            try:
                next(self._steps)  # runs until it needs more input than is buffered
            except StopIteration:
                self._parsed = True
            except IntegrityError as exc:
                self._error = exc
                self._buffer.clear()
                raise
        plaintext = b"".join(self._plaintext)
        self._plaintext.clear()
        return plaintext

    def finalize(self) -> None:
        """Succeed only if the whole structure was read and authenticated.

        Raises:
            IntegrityError: the input was bad, incomplete, or followed by other data.
        """
        if self._error is not None:
            raise self._error
        if not self._parsed:
            self._error = IntegrityError(IntegrityError.TRUNCATED)
        elif self._buffer:
            self._error = IntegrityError.unreadable("unexpected data after the CMS structure")
        if self._error is not None:
            raise self._error

    # --- the structure, RFC 5652 §3 / §6.1, RFC 5083 §2.1 ------------------------------

    def _parse(self) -> _Steps:
        yield from self._need(1)
        if self._buffer.startswith(b"-"):
            raise IntegrityError.unreadable("it looks like PEM text; this tool reads DER (.p7m)")
        content_info = yield from self._expect(None, 0x30, "ContentInfo")
        content_type = yield from self._oid(content_info)
        if content_type not in (OID_AUTH_ENVELOPED_DATA, OID_ENVELOPED_DATA):
            raise IntegrityError.unreadable(f"content type {content_type} is not (auth)enveloped")
        authenticated = content_type == OID_AUTH_ENVELOPED_DATA
        explicit = yield from self._expect(content_info, 0xA0, "content [0]")
        body = yield from self._expect(explicit, 0x30, "(Auth)EnvelopedData")
        version = yield from self._expect(body, 0x02, "version")
        if (yield from self._read(version)) != b"\x00" and authenticated:
            raise IntegrityError.unreadable("AuthEnvelopedData version is not 0 (RFC 5083 §2.1)")
        following = yield from self._child(body)
        if following.tag == 0xA0:  # originatorInfo [0]: certificates for key agreement only
            yield from self._skip(following)
            following = yield from self._child(body)
        if following.tag != 0x31:
            raise IntegrityError.unreadable("RecipientInfos (a SET) expected")
        keys = _unwrap(self._key, (yield from self._whole(following)))
        info = yield from self._expect(body, 0x30, "EncryptedContentInfo")
        yield from self._oid(info)  # any inner content type: the bytes are what we return
        algorithm = yield from self._expect(info, 0x30, "contentEncryptionAlgorithm")
        decryptor = _decryptor((yield from self._whole(algorithm)), keys, authenticated)
        if (yield from self._closed(info)):
            raise IntegrityError.unreadable("the encrypted content is detached")
        content = yield from self._child(info)
        if content.tag not in (0x80, 0xA0):
            raise IntegrityError.unreadable("encryptedContent [0] expected")
        yield from self._content(content, decryptor)
        yield from self._close(info)
        if authenticated:
            yield from self._authenticated_trailer(body, decryptor)
        else:
            self._plaintext.append(_finish(decryptor, None))
        while not (yield from self._closed(body)):  # unauthAttrs / unprotectedAttrs
            yield from self._skip((yield from self._child(body)))
        yield from self._close(explicit)
        yield from self._close(content_info)

    def _authenticated_trailer(self, body: _Tlv, decryptor: ContentDecryptor) -> _Steps:
        mac = yield from self._child(body)
        if mac.tag == 0xA1:  # RFC 5083 §2.2: they would be the GCM AAD
            raise IntegrityError.unreadable("authenticated attributes are not supported")
        if mac.tag != 0x04:
            raise IntegrityError.unreadable("mac (an OCTET STRING) expected")
        self._plaintext.append(_finish(decryptor, (yield from self._read(mac))))

    def _content(self, content: _Tlv, decryptor: ContentDecryptor) -> _Steps:
        """Decrypt [0] IMPLICIT OCTET STRING: primitive, or constructed from segments (BER)."""
        if content.length is not None and not content.tag & 0x20:  # primitive
            yield from self._pump(content.length, decryptor)
            return
        while not (yield from self._closed(content)):
            segment = yield from self._child(content)
            if segment.tag not in (0x04, 0x24):
                raise IntegrityError.unreadable("OCTET STRING segment expected in the content")
            yield from self._content(segment, decryptor)

    # --- incremental BER reading (X.690 §8.1) ------------------------------------------

    def _need(self, count: int) -> _Steps:
        while len(self._buffer) < count:
            yield

    def _read(self, tlv: _Tlv) -> Generator[None, None, bytes]:
        if tlv.length is None:
            raise IntegrityError.unreadable("unexpected indefinite length")
        if tlv.length > SMALL_ELEMENT_LIMIT:
            raise IntegrityError.unreadable(f"a {tlv.length}-byte element where a small one fits")
        return (yield from self._take(tlv.length))

    def _take(self, count: int) -> Generator[None, None, bytes]:
        yield from self._need(count)
        data = bytes(self._buffer[:count])
        del self._buffer[:count]  # cheap: CPython bytearrays shrink from the front in place
        self._offset += count
        return data

    def _pump(self, count: int, decryptor: ContentDecryptor) -> _Steps:
        while count:
            if not self._buffer:
                yield
                continue
            chunk = yield from self._take(min(count, len(self._buffer)))
            count -= len(chunk)
            self._plaintext.append(decryptor.update(chunk))

    def _header(self) -> Generator[None, None, _Tlv]:
        yield from self._need(2)
        tag, size = self._buffer[0], 1
        if tag & 0x1F == 0x1F:  # high tag number form: base-128 continuation octets
            while True:
                yield from self._need(size + 2)
                size += 1
                if not self._buffer[size - 1] & 0x80:
                    break
                if size > 6:
                    raise IntegrityError.unreadable("tag number too large")
        first = self._buffer[size]
        size += 1
        length: int | None
        if first == 0x80:
            if not tag & 0x20:
                raise IntegrityError.unreadable("indefinite length on a primitive element")
            length = None
        elif first < 0x80:
            length = first
        else:
            octets = first & 0x7F
            if octets > 8:
                raise IntegrityError.unreadable("length field too long")
            yield from self._need(size + octets)
            length = int.from_bytes(self._buffer[size : size + octets], "big")
            size += octets
        raw = yield from self._take(size)
        end = None if length is None else self._offset + length
        return _Tlv(raw, tag, length, end)

    def _child(self, parent: _Tlv | None) -> Generator[None, None, _Tlv]:
        """The next element inside ``parent``, which must not end before it does."""
        tlv = yield from self._header()
        if tlv.raw == EOC:
            raise IntegrityError.unreadable("unexpected end-of-contents")
        limit = None if parent is None else parent.end
        if limit is not None and (tlv.end is None or tlv.end > limit):
            raise IntegrityError.unreadable("an element overruns its container")
        return tlv

    def _expect(self, parent: _Tlv | None, tag: int, name: str) -> Generator[None, None, _Tlv]:
        tlv = yield from self._child(parent)
        if tlv.tag != tag:
            where = self._offset - len(tlv.raw)
            raise IntegrityError.unreadable(f"{name} expected at offset {where}")
        return tlv

    def _oid(self, parent: _Tlv) -> Generator[None, None, str]:
        tlv = yield from self._expect(parent, 0x06, "OBJECT IDENTIFIER")
        raw = tlv.raw + (yield from self._read(tlv))
        try:
            dotted: str = core.ObjectIdentifier.load(raw).dotted
        except ValueError as exc:
            raise IntegrityError.unreadable(f"bad OBJECT IDENTIFIER: {exc}") from None
        return dotted

    def _closed(self, tlv: _Tlv) -> Generator[None, None, bool]:
        """Whether ``tlv`` has no more contents; consumes its end-of-contents if indefinite."""
        if tlv.end is not None:
            if self._offset > tlv.end:
                raise IntegrityError.unreadable("an element overruns its container")
            return self._offset == tlv.end
        yield from self._need(2)
        if self._buffer[:2] != EOC:
            return False
        yield from self._take(2)
        return True

    def _close(self, tlv: _Tlv) -> _Steps:
        if not (yield from self._closed(tlv)):
            raise IntegrityError.unreadable("unexpected data at the end of an element")

    def _whole(self, tlv: _Tlv) -> Generator[None, None, bytes]:
        """The complete encoding of ``tlv`` (bounded), for asn1crypto to parse."""
        if tlv.length is not None:
            return tlv.raw + (yield from self._read(tlv))
        parts, size = [tlv.raw], len(tlv.raw)
        while not (yield from self._closed(tlv)):
            parts.append((yield from self._whole((yield from self._child(tlv)))))
            size += len(parts[-1])
            if size > SMALL_ELEMENT_LIMIT:
                raise IntegrityError.unreadable("an indefinite-length element is too large")
        parts.append(EOC)
        return b"".join(parts)

    def _skip(self, tlv: _Tlv) -> _Steps:
        yield from self._whole(tlv)


def _unwrap(key: RSAPrivateKey, recipient_infos: bytes) -> list[bytes]:
    try:
        keys = unwrap_keys(key, recipient_infos)
    except (ValueError, TypeError) as exc:
        raise IntegrityError.unreadable(f"bad RecipientInfos: {exc}") from None
    if not keys:
        raise IntegrityError(IntegrityError.WRONG_KEY)
    return keys


def _decryptor(algorithm: bytes, keys: list[bytes], authenticated: bool) -> ContentDecryptor:
    try:
        decryptor = content_decryptor(algorithm, keys, authenticated)
    except (ValueError, TypeError) as exc:
        raise IntegrityError.unreadable(f"content-encryption algorithm: {exc}") from None
    if decryptor is None:  # e.g. PKCS#1 v1.5 implicit rejection gave a key of another size
        raise IntegrityError(IntegrityError.WRONG_KEY)
    return decryptor


def _finish(decryptor: ContentDecryptor, mac: bytes | None) -> bytes:
    try:
        return decryptor.finalize(mac)
    except InvalidTag:
        raise IntegrityError(IntegrityError.TAG_MISMATCH) from None
    except ValueError:
        raise IntegrityError(IntegrityError.BAD_PADDING) from None
