"""The substitution notebook runs top to bottom at small scale (real MLflow store)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from stockpilot import tracking

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_substitution_notebook_executes(settings, small_data_dir, monkeypatch):
    # The kernel inherits the environment: data directory and the isolated STOCKPILOT_HOME.
    monkeypatch.setenv("STOCKPILOT_NOTEBOOK_DATA", str(small_data_dir))
    notebook = nbformat.read(ROOT / "notebooks" / "substitution.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # It trained into the isolated store (which starts empty: a copy of an empty one).
    assert tracking.version_info("substitution", 1).run_id
