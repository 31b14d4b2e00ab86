"""The code keeps its shape (docs/architecture.md), read from the source, no server needed:
every worker subscriber and every HTTP route stays thin — its body (docstring aside) at most 15
lines, the logic in a use-case or handler module — and no module of the services, the shared
package or the tools is over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY_LINES = 15
MAX_MODULE_LINES = 400
SOURCES = sorted((ROOT / "services").glob("*/src/*/**/*.py"))
ALL_SOURCES = sorted(
    path
    for folder in ("services", "shared", "tools")
    for path in (ROOT / folder).glob("**/src/**/*.py")
)
ROUTE_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "api_route"}


def _decorated(tree: ast.AST, names: set[str]) -> list[ast.AsyncFunctionDef | ast.FunctionDef]:
    """Functions decorated with ``<something>.<one of names>(...)``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(call, ast.Attribute) and call.attr in names:
                found.append(node)
                break
    return found


def _subscribers(tree: ast.AST) -> list[ast.AsyncFunctionDef | ast.FunctionDef]:
    return _decorated(tree, {"subscriber"})


def _routes(tree: ast.AST) -> list[ast.AsyncFunctionDef | ast.FunctionDef]:
    """FastAPI routes: ``@router.get(...)``, ``@app.post(...)`` …"""
    return _decorated(tree, ROUTE_METHODS)


def _body_lines(function: ast.AsyncFunctionDef | ast.FunctionDef) -> int:
    body = function.body
    if ast.get_docstring(function) is not None:
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_the_measure_finds_a_long_subscriber() -> None:
    # Guards the measure itself: a docstring does not count, the 16th statement line does.
    lines = "\n".join(f"    x{n} = {n}" for n in range(16))
    source = f'@router.subscriber("q")\nasync def on_long(m):\n    """Doc."""\n{lines}\n'
    (function,) = _subscribers(ast.parse(source))
    assert _body_lines(function) == 16


def test_no_subscriber_body_is_over_15_lines() -> None:
    measured = {
        f"{path.relative_to(ROOT)}:{f.lineno} {f.name}": _body_lines(f)
        for path in SOURCES
        for f in _subscribers(ast.parse(path.read_text("utf-8")))
    }
    # Finding none would make the check vacuous.
    names = {key.rsplit(" ", 1)[1] for key in measured}
    assert {"on_run_requested", "on_export_partition", "on_part_staged", "on_artifact_due"} <= names
    long = {key: lines for key, lines in measured.items() if lines > MAX_BODY_LINES}
    assert not long, f"subscriber bodies over {MAX_BODY_LINES} lines: {long}"


def test_no_route_body_is_over_15_lines() -> None:
    measured = {
        f"{path.relative_to(ROOT)}:{f.lineno} {f.name}": _body_lines(f)
        for path in SOURCES
        for f in _routes(ast.parse(path.read_text("utf-8")))
    }
    names = {key.rsplit(" ", 1)[1] for key in measured}
    assert {"list_runs", "upload_certificate", "create_session"} <= names  # the measure finds them
    long = {key: lines for key, lines in measured.items() if lines > MAX_BODY_LINES}
    assert not long, f"route bodies over {MAX_BODY_LINES} lines: {long}"


def test_no_module_is_over_400_lines() -> None:
    assert len(ALL_SOURCES) > 100  # the glob finds the tree
    long = {
        str(path.relative_to(ROOT)): lines
        for path in ALL_SOURCES
        if (lines := len(path.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
