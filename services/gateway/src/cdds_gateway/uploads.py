"""Reading an uploaded file from a request, bounded: the raw body (PEM or DER, any content type)
or a multipart form with the file in a field. At most the limit is read, whatever the client
claims. Used by the certificate upload of the REST API and of the User preferences page."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from cdds_shared.errors import TooLarge, ValidationFailed

__all__ = ["MULTIPART_OVERHEAD", "Upload", "read_upload"]

MULTIPART_OVERHEAD = 16 * 1024  # boundaries, part headers and a csrf_token field


@dataclass(frozen=True)
class Upload:
    data: bytes
    fields: dict[str, str]
    """The other text fields of a multipart form (e.g. ``csrf_token``); empty for a raw body."""


async def read_upload(request: Request, limit: int, field: str = "file") -> Upload:
    """The uploaded file: the raw body, or the ``field`` file of a multipart form.

    Reads at most ``limit`` bytes (plus room for the form's framing) before refusing.

    Raises:
        TooLarge: more than ``limit`` bytes (declared or sent).
        ValidationFailed: a multipart form that cannot be read or has no ``field``.
    """
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + MULTIPART_OVERHEAD if multipart else limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise _too_large(limit)
    if not multipart:
        return Upload(bytes(body), {})
    return await _form_file(request, bytes(body), limit, field)


async def _form_file(request: Request, body: bytes, limit: int, field: str) -> Upload:
    # Starlette parses forms from the request stream; replay the bounded body we already hold.
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    try:
        form = await Request(request.scope, receive).form(max_files=1, max_fields=16)
    except (MultiPartException, StarletteHTTPException) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise ValidationFailed(f"cannot read the multipart form: {detail}") from None
    try:
        item = form.get(field)
        if isinstance(item, UploadFile):
            data = await item.read()
        elif isinstance(item, str):
            data = item.encode()
        else:
            raise ValidationFailed(f"no file in the form field {field!r}")
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != field}
    finally:
        await form.close()
    if len(data) > limit:
        raise _too_large(limit)
    return Upload(data, fields)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the certificate file is larger than {limit} bytes")
