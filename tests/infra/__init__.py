"""How the test session gets its real servers (see ``tests/conftest.py``)."""

from tests.infra.provide import StackInfo, free_port, provide_stack

__all__ = ["StackInfo", "free_port", "provide_stack"]
