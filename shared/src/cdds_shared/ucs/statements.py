"""SQL of the PostgreSQL UCS adapter: filters from a ``UcsQuery`` and JSON rendered by the server.

``row_to_json`` over aliased columns renders compact JSON whose member names are the aliases, in
this order (see ``cdds_shared.ports.ucs`` for the list). Timestamps come out as ISO 8601 in UTC
(the connection's TimeZone), e.g. ``2024-03-06T13:12:32.906+00:00``.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from cdds_shared.errors import ValidationFailed
from cdds_shared.ucs.query import UcsQuery

__all__ = ["attachments", "count", "keyed_records", "records", "split_keys"]

_INTERACTION = (("id", "id"), ("tenant_id", "tenantId"), ("contact_id", "contactId"),
                ("entity_type_id", "entityTypeId"), ("media_type_id", "mediaTypeId"),
                ("type_id", "typeId"), ("subtype_id", "subtypeId"), ("status", "status"),
                ("owner_id", "ownerId"), ("parent_id", "parentId"), ("thread_id", "threadId"),
                ("start_date", "startDate"), ("end_date", "endDate"),
                ("modified_date", "modifiedDate"), ("subject", "subject"), ("the_text", "theText"),
                ("structured_text", "structuredText"),
                ("structured_text_mime_type", "structuredTextMimeType"),
                ("the_comment", "theComment"), ("queue_name", "queueName"),
                ("attached_data", "attachedData"))  # fmt: skip
_CONTACT = (("id", "id"), ("tenant_id", "tenantId"), ("title", "title"),
            ("first_name", "firstName"), ("last_name", "lastName"),
            ("email_address", "emailAddress"), ("phone_number", "phoneNumber"),
            ("customer_id", "customerId"), ("company", "company"), ("language", "language"),
            ("time_zone", "timeZone"), ("created_date", "createdDate"),
            ("modified_date", "modifiedDate"))  # fmt: skip
_DOCUMENT = (("id", "id"), ("interaction_id", "entityid"), ("tenant_id", "tenantId"),
             ("the_name", "theName"), ("mime_type", "mimeType"), ("the_size", "theSize"),
             ("created_date", "createdDate"))  # fmt: skip


def _columns(alias: str, pairs: tuple[tuple[str, str], ...]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(alias, col), sql.Identifier(name))
        for col, name in pairs
    )


def _where(q: UcsQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """Filter of the main table (aliased ``t``) and its parameters."""
    date = "start_date" if q.record_type == "interaction" else "created_date"
    conds: list[sql.Composable] = [sql.SQL("t.tenant_id = %(tenant_id)s")]
    if q.media_types is not None:
        conds.append(sql.SQL("t.media_type_id = ANY(%(media_types)s)"))
    if q.start is not None:
        conds.append(sql.SQL("{} >= %(start)s").format(sql.Identifier("t", date)))
    if q.end is not None:
        conds.append(sql.SQL("{} < %(end)s").format(sql.Identifier("t", date)))
    if q.after_id is not None:
        conds.append(sql.SQL("t.id > %(after_id)s"))
    if q.until_id is not None:
        conds.append(sql.SQL("t.id <= %(until_id)s"))
    params = {"tenant_id": q.tenant_id, "media_types": list(q.media_types or ()), "start": q.start,
              "end": q.end, "after_id": q.after_id, "until_id": q.until_id}  # fmt: skip
    return sql.SQL(" AND ").join(conds), params


def _from(q: UcsQuery) -> sql.Composed:
    return sql.SQL("{} AS t").format(sql.Identifier(q.record_type))


def count(q: UcsQuery) -> tuple[sql.Composed, dict[str, Any]]:
    where, params = _where(q)
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_from(q), where), params


def split_keys(q: UcsQuery, parts: int) -> tuple[sql.Composed, dict[str, Any]]:
    """Ids at the 1/parts, 2/parts, ... quantiles, and the greatest id (to drop an empty part)."""
    where, params = _where(q)
    params["fractions"] = [i / parts for i in range(1, parts)]
    stmt = sql.SQL(
        "SELECT percentile_disc(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY t.id), max(t.id)"
        " FROM {} WHERE {}"
    ).format(_from(q), where)
    return stmt, params


def records(q: UcsQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """One ``json`` value per record, in id order."""
    where, params = _where(q)
    pairs = _INTERACTION if q.record_type == "interaction" else _CONTACT
    stmt = sql.SQL('SELECT row_to_json(r) FROM (SELECT {} FROM {} WHERE {}) AS r ORDER BY r."id"')
    return stmt.format(_columns("t", pairs), _from(q), where), params


def keyed_records(q: UcsQuery, attachment_sizes: bool) -> tuple[sql.Composed, dict[str, Any]]:
    """``(id, json, attachment bytes)`` per record, in id order. The third column is the exact
    size of the record's attachment lines (JSON plus newline each), so the exporter can reserve
    room for them in the same part before it writes the record; 0 when not asked for."""
    where, params = _where(q)
    pairs = _INTERACTION if q.record_type == "interaction" else _CONTACT
    records = sql.SQL("SELECT {} FROM {} WHERE {}").format(_columns("t", pairs), _from(q), where)
    if not attachment_sizes:
        stmt = sql.SQL('SELECT r."id", row_to_json(r), 0 FROM ({}) AS r ORDER BY r."id"')
        return stmt.format(records), params
    if q.record_type != "interaction":
        raise ValidationFailed("attachments belong to interactions")
    # An attachment line is ``{<metadata members>,"content":"<base64>"}`` + newline: its size
    # follows from the metadata JSON and the content length, without base64-encoding the content
    # (the bulk of the bytes) a second time. One aggregate over the key range, merge-joined in id
    # order, costs far less than a lookup per record.
    stmt = sql.SQL(
        'SELECT r."id", row_to_json(r), coalesce(a.bytes, 0) FROM ({}) AS r LEFT JOIN ('
        "SELECT d.interaction_id, sum(octet_length(row_to_json(m)::text) + 11 + CASE WHEN"
        " d.content IS NULL THEN 4 ELSE 2 + 4 * ((octet_length(d.content) + 2) / 3) END + 1)"
        " AS bytes FROM document AS d CROSS JOIN LATERAL (SELECT {}) AS m WHERE {} GROUP BY 1"
        ') AS a ON a.interaction_id = r."id" ORDER BY r."id"'
    )
    return stmt.format(records, _columns("d", _DOCUMENT), _documents_in_range(q)), params


def _documents_in_range(q: UcsQuery) -> sql.Composed:
    """The documents of the query's key range (aliased ``d``): a partition reads its own
    attachments through the index on ``(interaction_id, id)``, not all of its tenant's."""
    in_range = [sql.SQL("d.tenant_id = %(tenant_id)s")]
    if q.after_id is not None:
        in_range.append(sql.SQL("d.interaction_id > %(after_id)s"))
    if q.until_id is not None:
        in_range.append(sql.SQL("d.interaction_id <= %(until_id)s"))
    return sql.SQL(" AND ").join(in_range)


def attachments(q: UcsQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """One ``json`` value per document of the selected interactions, by (interaction, document)."""
    if q.record_type != "interaction":
        raise ValidationFailed("attachments belong to interactions")
    where, params = _where(q)
    stmt = sql.SQL(
        "SELECT row_to_json(r) FROM (SELECT {}, translate(encode(d.content, 'base64'), E'\\n', '')"
        ' AS "content" FROM interaction AS t JOIN document AS d ON d.interaction_id = t.id'
        ' AND d.tenant_id = t.tenant_id WHERE {} AND {}) AS r ORDER BY r."entityid", r."id"'
    )
    return stmt.format(_columns("d", _DOCUMENT), where, _documents_in_range(q)), params
