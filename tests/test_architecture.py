"""The rooms of docs/architecture.md and what each may import, read from the source.

Every ``import``/``from … import`` of every module (at any depth: a lazy import inside a
function counts the same) is checked against the table; the command lines, which sit on
top of everything, are the named exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("stockpilot", "features", "models", "training", "governance", "serving")
MAY_IMPORT = {
    "stockpilot": {"stockpilot", "features", "models"},
    "features": {"features", "stockpilot"},
    "models": {"models", "features", "stockpilot"},
    "training": {"training", "features", "models", "stockpilot", "governance"},
    "governance": {"governance", "features", "stockpilot"},
    "serving": {"serving", "features", "models", "governance", "stockpilot"},
}
# Command lines and the make-run bootstrap: they wire every room together.
ON_TOP = {"stockpilot/cli.py", "stockpilot/bootstrap.py", "governance/kpi_cli.py"}


def imports(path: Path) -> set[str]:
    """The project rooms ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(ROOMS)
    return found


def modules() -> list[Path]:
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_imports_only_what_it_may(room):
    crossing = {
        str(path.relative_to(ROOT)): sorted(imports(path) - MAY_IMPORT[room])
        for path in (ROOT / room).rglob("*.py")
        if str(path.relative_to(ROOT)) not in ON_TOP
    }
    assert not {k: v for k, v in crossing.items() if v}


def test_the_storage_engine_knows_nothing_of_the_domain():
    """governance/store/ imports only itself, and the audit hook that anchors commits."""
    for path in (ROOT / "governance" / "store").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("governance"):
                assert node.module.startswith("governance.store") or (
                    path.name == "engine.py" and node.module == "governance.audit"
                ), f"{path.relative_to(ROOT)} imports {node.module}"


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from training.data import load\n    import serving.app\n")
    assert imports(module) == {"training", "serving"}


def sessions_opened(path: Path) -> list[str]:
    """Where ``path`` opens a store session (``….read()`` / ``….write()`` on a database,
    ``db.read(`` or ``db.write(`` in any spelling) or imports SQLAlchemy to make one."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("read", "write")
            and _looks_like_a_database(node.func.value)
        ):
            found.append((node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [(node.lineno, f"import {n}") for n in names if n and "sqlalchemy" in n]
    return [f"{line}: {what}" for line, what in sorted(found)]


def _looks_like_a_database(value: ast.expr) -> bool:
    name = ast.unparse(value).lower().split(".")[-1]
    return "db" in name or "database" in name


def test_serving_opens_no_store_session():
    """Reads go through governance.reads.Reads, writes through governance.commands."""
    opened = {
        str(path.relative_to(ROOT)): sessions_opened(path)
        for path in (ROOT / "serving").rglob("*.py")
    }
    assert not {k: v for k, v in opened.items() if v}
    text = {p: p.read_text() for p in (ROOT / "serving").rglob("*.py")}
    assert not [p for p, t in text.items() if "db.read(" in t or "db.write(" in t]


def test_the_session_check_sees_each_spelling(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from sqlalchemy.orm import Session\n"
        "def f(services, db):\n"
        "    with services.db.read() as s:\n"
        "        pass\n"
        "    with db.write() as s:\n"
        "        pass\n"
        "    self_db = services.database\n"
        "    self_db.read()\n"
        "    open('x').read()\n"
    )
    assert [line.split(":")[0] for line in sessions_opened(module)] == ["1", "3", "5", "8"]
