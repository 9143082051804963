"""The example notebooks run from top to bottom (executed with nbclient, outputs discarded), so
that they cannot rot: the English one on the embedded model, the Chinese edition on Gemma 3 270M
(at a smaller budget than it ships with: the test edits settings in its first code cell)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_both_editions_are_in_the_repository() -> None:
    assert {path.name for path in NOTEBOOKS} == {"dpo_vs_ppo.ipynb", "dpo_vs_ppo_zh.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_repository_copy_has_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert all(
        not cell.get("outputs") and not cell.get("execution_count")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def _execute(path: Path, directory: Path, edits: dict[str, str] | None = None) -> list:
    """The outputs of ``path`` run in ``directory``, after replacing each key of ``edits`` by its
    value in the first code cell (which must contain it)."""
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    for old, new in (edits or {}).items():
        assert old in first.source, old
        first.source = first.source.replace(old, new)
    NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(directory)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def _images(outputs: list) -> list:
    return [o for o in outputs if "image/png" in o.get("data", {})]


@pytest.mark.slow
def test_dpo_vs_ppo_notebook_runs(tmp_path, embedded_dir) -> None:
    outputs = _execute(EXAMPLES / "dpo_vs_ppo.ipynb", tmp_path)
    # The training curves and the frontier are images in the executed copy.
    assert len(_images(outputs)) >= 2
    assert list((tmp_path / "runs").glob("notebook-*/report.html"))


@pytest.mark.slow
def test_the_chinese_edition_runs_on_gemma3_with_the_seeds_prompts(tmp_path) -> None:
    from alignlab.tasks.seed import seed_prompts

    # Gemma 3's 262,144-token head makes every sampled token dear: half the answer length, one
    # pair per prompt, one sample per held-out prompt, half the extra training prompts, a LoRA
    # reward model (the notebook trains its 268M weights) with a quarter of its normalisation
    # samples, one PPO iteration and no best-of-n.
    edits = {
        '"reward_model.lr=1e-5"': '"reward_model.lr=1e-5", "reward_model.lora=true"',
        "preferences.pairs_per_prompt=2": "preferences.pairs_per_prompt=1",
        "reward_model.normalize_samples=32": "reward_model.normalize_samples=8",
        "max_new_tokens=24": "max_new_tokens=12",
        "samples_per_prompt=2": "samples_per_prompt=1",
        "seed_topic_prompts=8": "seed_topic_prompts=4",
        '"ppo.iterations=2"': '"ppo.iterations=1"',
        '    {"method": "best-of-n", "sweep": {"n": [4]}},\n': "",
    }
    outputs = _execute(EXAMPLES / "dpo_vs_ppo_zh.ipynb", tmp_path, edits)
    assert len(_images(outputs)) >= 2
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "gemma3-270m seed" in printed
    # The held-out prompts it reports on are the notebook's own Chinese prompts.
    assert sum(prompt in printed for prompt in seed_prompts()) >= 5
    reports = list((tmp_path / "runs").glob("notebook-*/report.html"))
    assert reports and 'lang="zh' in reports[0].read_text(encoding="utf-8")
