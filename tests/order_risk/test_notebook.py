"""The order-risk notebook runs top to bottom at small scale."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from stockpilot.settings import Settings

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "order_risk.ipynb"


@pytest.mark.slow
def test_notebook_executes(
    settings: Settings, small_data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ORDER_RISK_DATA", str(small_data_dir))
    monkeypatch.setenv("ORDER_RISK_ALIAS", "challenger")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parents[1])}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) for o in outputs)
    assert "additivity max error" in text and "top driver" in text
