"""Text fields of synthetic interactions: e-mail bodies, chat transcripts, attached data."""

from __future__ import annotations

import json
import random
from datetime import datetime
from xml.sax.saxutils import escape

from cdds_shared.ucs import vocab
from cdds_shared.ucs.prose import Prose

__all__ = ["attached_data", "chat_transcript", "email", "short_text"]

_CHAT_XML = tuple(escape(line, {'"': "&quot;"}) for line in vocab.CHAT_LINES)


def email(rng: random.Random, prose: Prose) -> tuple[str, str | None, str | None]:
    """(plain body of about 0.3-8 KB, HTML version or None, its MIME type or None).

    Like real mail: a greeting, prose (about one paragraph in eight is one of the fixed ones, with
    the scripts, emoji and characters JSON must escape), a closing, often a company's disclaimer,
    and for most messages an HTML alternative of the same text."""
    paragraphs = [
        rng.choice(vocab.PARAGRAPHS) if rng.random() < 0.125 else p
        for p in prose.paragraphs(rng, rng.randint(1, 12))
    ]
    name = f"{rng.choice(vocab.FIRST_NAMES)} {rng.choice(vocab.LAST_NAMES)}"
    paragraphs = [rng.choice(vocab.GREETINGS), *paragraphs, f"{rng.choice(vocab.CLOSINGS)}\n{name}"]
    if rng.random() < 0.6:
        paragraphs.append(rng.choice(vocab.DISCLAIMERS))
    body = "\n\n".join(paragraphs)
    if rng.random() < 0.6:
        html = "</p><p>".join(escape(p) for p in paragraphs)
        return body, f"<html><body><p>{html}</p></body></html>", "text/html"
    return body, None, None


def chat_transcript(rng: random.Random, prose: Prose, session_id: str, start: datetime) -> str:
    """A UCS-style XML chat transcript (the ``structured_text`` of a chat)."""
    messages = "".join(
        f'<message userId="{"c" if j % 2 else "a"}" timeShift="{j * 17}" visibility="ALL">'
        f"<msgText>{_chat_line(rng, prose)}</msgText></message>"
        for j in range(rng.randint(2, 24))
    )
    return (
        f'<?xml version="1.0"?><chatTranscript startAt="{start:%Y-%m-%dT%H:%M:%SZ}" '
        f'sessionId="{session_id}">{messages}</chatTranscript>'
    )


def _chat_line(rng: random.Random, prose: Prose) -> str:
    if rng.random() < 0.25:
        return rng.choice(_CHAT_XML)
    return escape(prose.sentence(rng))


def short_text(rng: random.Random, prose: Prose, fixed: tuple[str, ...]) -> str:
    """An SMS or a comment: one of ``fixed`` (a quarter of the time) or a sentence."""
    return rng.choice(fixed) if rng.random() < 0.25 else prose.sentence(rng)


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
