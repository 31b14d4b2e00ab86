"""The command groups of ``cdds``; each module's ``register(subparsers, common)`` adds its
parsers (``common``: the ``--token``/``--url`` parent) and sets ``handler`` on each."""
