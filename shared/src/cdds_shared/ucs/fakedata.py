"""Deterministic synthetic UCS rows: the same (tenant, seed, counts) always yields the same tuples.

Content depends on the seed only; ids also on the tenant (``make_id``), so several tenants seeded
with one seed coexist. Timestamps spread over 2024-2025 (UTC), independent of the clock.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from cdds_shared.ucs import texts, vocab
from cdds_shared.ucs.prose import Prose

__all__ = ["CONTACT_COLUMNS", "DOCUMENT_COLUMNS", "INTERACTION_COLUMNS", "Generator", "make_id"]

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 730 * 86_400
CONTACT_COLUMNS = ("id", "tenant_id", "title", "first_name", "last_name", "email_address",
                   "phone_number", "customer_id", "company", "language", "time_zone",
                   "created_date", "modified_date")  # fmt: skip
INTERACTION_COLUMNS = ("id", "tenant_id", "contact_id", "entity_type_id", "media_type_id",
                       "type_id", "subtype_id", "status", "owner_id", "parent_id", "thread_id",
                       "start_date", "end_date", "modified_date", "subject", "the_text",
                       "structured_text", "structured_text_mime_type", "the_comment",
                       "queue_name", "attached_data")  # fmt: skip
DOCUMENT_COLUMNS = ("id", "interaction_id", "tenant_id", "the_name", "mime_type", "the_size",
                    "content", "created_date")  # fmt: skip
# (entity_type_id, media_type_id, type_id, subtypes, weight %, max duration s)
KINDS = (
    (1, "email", "Inbound", ("InboundNew", "InboundReply"), 30, 0),
    (2, "email", "Outbound", ("OutboundReply", "OutboundNew", "OutboundAcknowledgement"), 15, 0),
    (3, "chat", "Inbound", ("InboundNew",), 20, 2400),
    (4, "voice", "Inbound", ("InboundNew", "OutboundNew", "InboundConsult"), 23, 3600),
    (5, "callback", "Outbound", ("OutboundNew",), 5, 900),
    (6, "sms", "Inbound", ("InboundNew", "InboundReply"), 5, 0),
    (7, "workitem", "Internal", ("InternalNew", None), 2, 86_400),
)
_CUMULATIVE = list(accumulate(k[4] for k in KINDS))


def make_id(tenant_id: int, seed: int, kind: str, index: int) -> str:
    """A 16-character id (base32hex of 80 bits), unique per (tenant, seed, kind, index).

    Like UCS's time-based ids, ids sort in creation order: 40 bits of ``index`` first, then 40
    bits of a hash. So rows lie in the heap in id order, as they do in a real UCS, and a key
    range reads neighbouring pages rather than pages spread over the whole table."""
    key = f"{tenant_id}:{seed}:{kind}:{index}".encode()
    digest = hashlib.blake2b(key, digest_size=5).digest()
    return base64.b32hexencode(index.to_bytes(5, "big") + digest).decode()


class Generator:
    """Yields rows as tuples in the column order above, ready for ``COPY``."""

    def __init__(self, tenant_id: int, seed: int) -> None:
        self.tenant_id, self.seed = tenant_id, seed
        self.prose = Prose.of(seed)
        self.contact_ids: list[str] = []
        # (interaction id, start date, number of documents), filled by interactions()
        self.attachment_plan: list[tuple[str, datetime, int]] = []

    def _when(self, rng: random.Random) -> datetime:
        return EPOCH + timedelta(
            seconds=rng.randrange(SPAN_SECONDS), milliseconds=rng.randrange(1000)
        )

    def contacts(self, count: int) -> Iterator[tuple[object, ...]]:
        rng = random.Random(f"ucs-contacts:{self.seed}")
        for i in range(count):
            cid = make_id(self.tenant_id, self.seed, "c", i)
            self.contact_ids.append(cid)
            created = self._when(rng)
            handle = f"{rng.choice(vocab.HANDLES)}.{i}@{rng.choice(vocab.DOMAINS)}"
            phone = f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(10**5, 10**7)}"
            modified = created + timedelta(days=rng.randrange(400))
            yield (cid, self.tenant_id, rng.choice(("Mr", "Ms", "Dr", "Mx", None, None)),
                   rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES),
                   handle if rng.random() < 0.9 else None,
                   phone if rng.random() < 0.8 else None,
                   f"CUST-{i:08d}" if rng.random() < 0.7 else None,
                   rng.choice(vocab.COMPANIES) if rng.random() < 0.4 else None,
                   rng.choice(("en", "fr", "de", "ja", "ru", None)),
                   rng.choice(("Europe/Paris", "America/New_York", "Asia/Tokyo", None)),
                   created, modified if rng.random() < 0.7 else None)  # fmt: skip

    def interactions(self, count: int) -> Iterator[tuple[object, ...]]:
        rng = random.Random(f"ucs-interactions:{self.seed}")
        recent: list[tuple[str, str]] = []  # (id, thread id) of recent e-mails, for replies
        for i in range(count):
            iid = make_id(self.tenant_id, self.seed, "i", i)
            kind = KINDS[bisect.bisect_right(_CUMULATIVE, rng.randrange(100))]
            etype, media, type_id, subtypes, _, max_seconds = kind
            subtype = rng.choice(subtypes)
            # Spread over the span in index order (plus jitter) so a reply follows its parent.
            start = EPOCH + timedelta(seconds=(i + rng.random()) * SPAN_SECONDS / count)
            status = rng.choices((3, 2, 1), (85, 10, 5))[0]  # 3 done, 2 in process, 1 new
            parent = thread = subject = text = structured = mime = comment = None
            if media == "email":
                if recent and subtype not in ("InboundNew", "OutboundNew"):
                    parent, thread = rng.choice(recent)
                thread = thread or iid
                recent = [*recent[-63:], (iid, thread)]
                subject = rng.choice(vocab.SUBJECTS).format(n=i)
                text, structured, mime = texts.email(rng, self.prose)
                if rng.random() < 0.1:
                    self.attachment_plan.append((iid, start, rng.randint(1, 3)))
            elif media == "chat":
                structured, mime = texts.chat_transcript(rng, self.prose, iid, start), "text/xml"
            elif media == "sms":
                text = texts.short_text(rng, self.prose, vocab.SHORT_TEXTS)
            elif media == "workitem":
                subject, text = (
                    f"Task {i}",
                    "\n\n".join(self.prose.paragraphs(rng, rng.randint(1, 4))),
                )
            if rng.random() < (0.5 if media in ("voice", "callback") else 0.1):
                comment = texts.short_text(rng, self.prose, vocab.COMMENTS)
            end = None
            if status == 3:
                end = start + timedelta(seconds=rng.randint(1, max_seconds or 5))
            modified = (end or start) + timedelta(minutes=rng.randrange(600))
            contact = rng.choice(self.contact_ids) if self.contact_ids else None
            yield (iid, self.tenant_id, contact if rng.random() < 0.9 else None,
                   etype, media, type_id, subtype, status,
                   rng.randint(1000, 1099) if rng.random() < 0.85 else None,
                   parent, thread, start, end, modified if rng.random() < 0.8 else None,
                   subject, text, structured, mime, comment,
                   rng.choice(vocab.QUEUES[media]) if rng.random() < 0.9 else None,
                   texts.attached_data(rng, i))  # fmt: skip

    def documents(self) -> Iterator[tuple[object, ...]]:
        """The attachments planned by ``interactions()``; call it after that one is exhausted."""
        rng = random.Random(f"ucs-documents:{self.seed}")
        n = 0
        for iid, start, count in self.attachment_plan:
            for _ in range(count):
                name, mime, magic = rng.choice(vocab.ATTACHMENTS)
                if mime is None or mime.startswith("text/"):
                    body = rng.choice(vocab.PARAGRAPHS).encode() * rng.randint(1, 20)
                else:
                    body = rng.randbytes(rng.randint(200, 6000))
                content = magic + body
                yield (make_id(self.tenant_id, self.seed, "d", n), iid, self.tenant_id,
                       name.format(n=n), mime, len(content), content,
                       start + timedelta(seconds=rng.randint(0, 120)))  # fmt: skip
                n += 1
