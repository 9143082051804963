"""Bad input reaches the user as one message naming the file, line or key; exit code 2; no
traceback; nothing written before the input is known to be good."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alignlab.cli import main

GOOD = {"prompt": "I saw it", "chosen": " and loved it.", "rejected": " and hated it."}


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["alignlab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([json.dumps(GOOD), "{oops"], "prefs.jsonl line 2: not valid JSON"),
        (
            [json.dumps(GOOD), json.dumps({"prompt": "x", "chosen": "y"})],
            "prefs.jsonl line 2: missing field 'rejected'",
        ),
        ([json.dumps({**GOOD, "chosen": ""})], "prefs.jsonl line 1: field 'chosen' is empty"),
        ([json.dumps({**GOOD, "rejected": ["a"]})], "prefs.jsonl line 1: field 'rejected' must be a string"),
        ([""], "prefs.jsonl: no preference pairs (the file is empty)"),
    ],
)
def test_bad_preference_files(monkeypatch, capsys, tmp_path, lines, expected) -> None:
    out = tmp_path / "run"
    code, text = run_cli(monkeypatch, capsys, "train", "dpo", "--out", str(out), "--data", str(jsonl(tmp_path, *lines)))
    assert code == 2
    assert expected in text
    assert "Traceback" not in text
    assert not out.exists(), "a run directory was created for bad input"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "dpo.betaa=0.1"], "key 'dpo.betaa': unknown key"),
        (["--set", "dpo.beta=high"], "key 'dpo.beta': must be a number"),
        (["--set", "dpo.mixed_precision=no"], "got False (YAML reads a bare no as false: write 'no' in quotes)"),
        (["--set", "model.name_or_path=/no/such/model"], "path '/no/such/model' (it does not exist)"),
        (["--set", "model.name_or_path=nobody/no-such-model"], "hub id 'nobody/no-such-model'"),
        (["--set", "task.reward=no_such_module:score"], "cannot import module 'no_such_module'"),
        (["--set", "task.reward=json:no_such_function"], "module 'json' has no callable 'no_such_function'"),
        (["--set", "task.name=astrology"], "unknown task 'astrology'"),
    ],
)
def test_bad_settings(monkeypatch, capsys, tmp_path, args, expected) -> None:
    out = tmp_path / "prefs.jsonl"
    code, text = run_cli(monkeypatch, capsys, "data", "prefs", "--out", str(out), *args)
    assert code == 2
    assert expected in text
    assert "Traceback" not in text
    assert not out.exists()


def test_bad_config_file_names_the_file(monkeypatch, capsys, tmp_path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text("dpo:\n  beta: 0.1\n  epochs: two\n")
    code, text = run_cli(monkeypatch, capsys, "compare", str(config), "--out", str(tmp_path / "run"))
    assert code == 2
    assert f"{config}: key 'dpo.epochs': must be an integer" in text


def test_several_workers_per_run_need_the_ray_launcher(monkeypatch, capsys, tmp_path) -> None:
    """Refused with the option named, before anything is written."""
    out = tmp_path / "run"
    code, text = run_cli(monkeypatch, capsys, "compare", "--out", str(out), "--workers-per-run", "2")
    assert code == 2
    assert "--workers-per-run 2 needs --launcher ray" in " ".join(text.split())
    assert not out.exists()


SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"


@pytest.mark.parametrize(
    "command", [["compare", "{config}"], ["train", "dpo", "--config", "{config}"]], ids=["compare", "train"]
)
def test_resuming_with_an_edited_config_file_is_refused(monkeypatch, capsys, tmp_path, command) -> None:
    """The run continues with the config it was started with; a config file given beside --resume
    that says otherwise is refused with the keys that differ, and the run is left as it was."""
    from alignlab.cli import _resumed_config
    from alignlab.config import load_config, method_config, save_config

    out = tmp_path / "run"
    out.mkdir()
    started = load_config(SMOKE)
    if command[0] == "train":
        started = method_config(started, "dpo", {})
    save_config(started, out / "config.yaml")
    edited = tmp_path / "edited.yaml"
    edited.write_text(SMOKE.read_text(encoding="utf-8").replace("seeds: [0]", "seeds: [0, 1]") + "threads: 1\n")
    arguments = [a.format(config=edited) for a in command]
    code, text = run_cli(monkeypatch, capsys, *arguments, "--out", str(out), "--resume")
    assert code == 2
    message = " ".join(text.split())
    assert f"--resume: {edited} differs from the config '{out}' was started with (seeds, threads)" in message
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml"]
    # The same file as at the start is accepted: the saved config is resumed.
    assert _resumed_config(out, [], SMOKE, started) == load_config(out / "config.yaml")


def test_refuses_to_overwrite_a_run(monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, text = run_cli(
        monkeypatch, capsys, "train", "dpo", "--out", str(out), "--data", str(jsonl(tmp_path, json.dumps(GOOD)))
    )
    assert code == 2 and "not empty" in text
    assert (out / "keep.txt").read_text() == "precious"


def test_a_subprocess_sees_no_traceback(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alignlab",
            "train",
            "dpo",
            "--out",
            str(tmp_path / "r"),
            "--data",
            str(tmp_path / "missing.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "missing.jsonl: preference file not found" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_config_show_prints_every_setting_with_its_help(monkeypatch, capsys) -> None:
    code, text = run_cli(monkeypatch, capsys, "config", "show", "ppo")
    assert code == 0
    assert "ppo.kl_coef" in text and "Weight of KL" in text and "ppo.critic" in text
    assert "dpo.beta" not in text


def test_config_show_names_the_sections_of_an_unknown_one(monkeypatch, capsys) -> None:
    code, text = run_cli(monkeypatch, capsys, "config", "show", "dop")
    assert code == 2 and "no section or setting 'dop'" in text and "dpo" in text and "Traceback" not in text


def test_config_dump_writes_a_loadable_resolved_config(monkeypatch, capsys, tmp_path) -> None:
    from alignlab.config import load_config

    out = tmp_path / "resolved.yaml"
    code, _ = run_cli(monkeypatch, capsys, "config", "dump", "--out", str(out), "--set", "dpo.beta=0.3")
    assert code == 0 and load_config(out).dpo.beta == 0.3
