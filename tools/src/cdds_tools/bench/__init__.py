"""``make bench``: the export pipeline against the baseline shell pipeline (DESIGN §10)."""
