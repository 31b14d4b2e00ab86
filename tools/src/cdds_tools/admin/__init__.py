"""``cdds-admin``: operator commands (``ucs`` now; ``tenant`` and ``user`` groups later)."""
