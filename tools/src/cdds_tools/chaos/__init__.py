"""``make chaos``: outages of each server and SIGKILLs of each service in the middle of export
runs, a duplicated and a forged ``RunRequested``, and a plaintext scan, on a private stack
(docs/chaos.md)."""

__all__: list[str] = []
