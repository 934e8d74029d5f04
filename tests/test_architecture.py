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
