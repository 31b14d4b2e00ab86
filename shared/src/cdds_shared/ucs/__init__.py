"""The UCS source: the contact-history database CDDS exports from (read-only).

- ``source``: the ``UcsSource`` port, ``UcsQuery`` and the ``PostgresUcsSource`` adapter.
- ``migrate`` / ``seed``: build and fill a stand-in UCS 8.5 database for development and tests.
"""
