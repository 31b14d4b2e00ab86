"""How the test session gets its real servers (see ``tests/conftest.py``)."""

from tests.infra.provide import StackInfo, provide_stack

__all__ = ["StackInfo", "provide_stack"]
