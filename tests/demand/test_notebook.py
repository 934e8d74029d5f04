"""notebooks/demand.ipynb runs top to bottom at small scale."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from stockpilot.settings import Settings

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "demand.ipynb"


@pytest.mark.slow
def test_demand_notebook_executes(
    settings: Settings, small_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPILOT_DEMAND_DATA", str(small_data_dir))
    monkeypatch.setenv("STOCKPILOT_DEMAND_QUICK", "1")  # the kernel inherits the environment
    monkeypatch.setenv("STOCKPILOT_TRAIN_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parents[1])}},
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) for o in outputs)
    assert "suggestions, total value" in text
