"""The example notebook runs from top to bottom (executed with nbclient, outputs discarded), so
that it cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "dpo_vs_ppo.ipynb"


def test_the_repository_copy_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(
        not cell.get("outputs") and not cell.get("execution_count")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.slow
def test_dpo_vs_ppo_notebook_runs(tmp_path, embedded_dir) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # The training curves and the frontier are images in the executed copy.
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").glob("notebook-*/report.html"))
