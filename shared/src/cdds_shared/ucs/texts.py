"""Text fields of synthetic interactions: e-mail bodies, chat transcripts, attached data."""

from __future__ import annotations

import json
import random
from datetime import datetime
from xml.sax.saxutils import escape

from cdds_shared.ucs import vocab

__all__ = ["attached_data", "chat_transcript", "email"]

_CHAT_XML = tuple(escape(line, {'"': "&quot;"}) for line in vocab.CHAT_LINES)


def email(rng: random.Random) -> tuple[str, str | None, str | None]:
    """(plain body of 1-8 KB, HTML version or None, its MIME type or None)."""
    paragraphs = rng.choices(vocab.PARAGRAPHS, k=rng.randint(6, 48))
    body = "\n\n".join(paragraphs)
    if rng.random() < 0.25:
        html = "</p><p>".join(escape(p) for p in paragraphs)
        return body, f"<html><body><p>{html}</p></body></html>", "text/html"
    return body, None, None


def chat_transcript(rng: random.Random, session_id: str, start: datetime) -> str:
    """A UCS-style XML chat transcript (the ``structured_text`` of a chat)."""
    messages = "".join(
        f'<message userId="{"c" if j % 2 else "a"}" timeShift="{j * 17}" visibility="ALL">'
        f"<msgText>{rng.choice(_CHAT_XML)}</msgText></message>"
        for j in range(rng.randint(2, 24))
    )
    return (
        f'<?xml version="1.0"?><chatTranscript startAt="{start:%Y-%m-%dT%H:%M:%SZ}" '
        f'sessionId="{session_id}">{messages}</chatTranscript>'
    )


def attached_data(rng: random.Random, index: int) -> str | None:
    """Key-value pairs attached by routing (JSON text), or None for 30% of interactions."""
    if rng.random() < 0.3:
        return None
    data: dict[str, object] = {
        "CaseId": f"CASE-{index:07d}",
        "ServiceType": rng.choice(("billing", "delivery", "support")),
        "Language": rng.choice(("en", "fr", "de", "ja")),
    }
    if rng.random() < 0.3:
        data["VIP"], data["Score"] = True, rng.randint(0, 100)
    if rng.random() < 0.3:
        data["Note"] = rng.choice(vocab.SHORT_TEXTS)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)
