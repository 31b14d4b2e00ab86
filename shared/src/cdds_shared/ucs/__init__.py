"""The UCS source: the contact-history database CDDS exports from (read-only).

- ``query``: ``UcsQuery``, what to read; ``statements`` / ``connect``: the PostgreSQL adapter's SQL
  and connections (the port is ``cdds_shared.ports.ucs``, the adapter
  ``cdds_shared.adapters.postgres_ucs``).
- ``migrate`` / ``seed``: build and fill a stand-in UCS 8.5 database for development and tests.
"""
