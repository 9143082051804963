"""The corpus hash: the shipped models record the generator they were built from, and loading a
model whose generator has changed since warns once, naming the command that rebuilds it."""

from __future__ import annotations

import ast
import json
import logging
import shutil
from pathlib import Path

import pytest

import alignlab.base
from alignlab.base import ASSETS_DIR, EMBEDDED_MODELS, corpus_data, embedded_model_dir
from alignlab.base.corpus_data import BUILD_REPORT, GENERATOR_FILES, corpus_hash, source_hash

BASE_DIR = corpus_data.BASE_DIR
# Modules that generators import without their output depending on them.
NOT_GENERATORS = {"corpus_data", "corpus_stats", "review_prompts"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == logging.WARNING]


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch):
    """The alignlab logger's records, in a process where no model has been checked yet."""
    monkeypatch.setattr(alignlab.base, "_CHECKED", set())
    handler = Records()
    logger = logging.getLogger("alignlab")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def generator_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of every generator file, which the hash then reads instead of the package's."""
    for path in {p for files in GENERATOR_FILES.values() for p in files}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BASE_DIR / path, tmp_path / path)
    monkeypatch.setattr(corpus_data, "BASE_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", list(EMBEDDED_MODELS))
def test_shipped_models_record_the_generator_installed(name: str) -> None:
    report = json.loads((ASSETS_DIR / name / BUILD_REPORT).read_text(encoding="utf-8"))
    assert report["corpus_hash"] == corpus_hash(EMBEDDED_MODELS[name]), (
        f"the corpus generator changed since '{name}' was built: check that its corpus is unchanged "
        f"and record the new hash, or rebuild it (alignlab base build --name {name})"
    )


def test_loading_the_shipped_models_warns_of_nothing(logged: Records) -> None:
    for name in EMBEDDED_MODELS:
        embedded_model_dir(name)
    assert logged.warnings() == []


def test_a_changed_data_file_warns_once_naming_the_model_and_the_rebuild(generator_copy: Path, logged: Records) -> None:
    lexicon = generator_copy / "data" / "reviews.yaml"
    lexicon.write_text(lexicon.read_text(encoding="utf-8").replace("Ada Alma", "Alma Ada"), encoding="utf-8")
    embedded_model_dir("embedded")
    embedded_model_dir("embedded")
    (warning,) = logged.warnings()
    assert "'embedded'" in warning and "alignlab base build --name embedded" in warning
    # The Chinese model's generator is untouched.
    embedded_model_dir("embedded-zh")
    assert len(logged.warnings()) == 1


def test_a_changed_source_file_changes_only_its_languages_hash(generator_copy: Path) -> None:
    english, chinese = (corpus_hash(EMBEDDED_MODELS[name]) for name in ("embedded", "embedded-zh"))
    with (generator_copy / "zh_grammar.py").open("a", encoding="utf-8") as f:
        f.write("# a comment is an edit too\n")
    assert corpus_hash(EMBEDDED_MODELS["embedded"]) == english
    assert corpus_hash(EMBEDDED_MODELS["embedded-zh"]) != chinese


def test_a_report_without_the_hash_warns(tmp_path: Path, logged: Records) -> None:
    (tmp_path / BUILD_REPORT).write_text(json.dumps({"corpus": {"zh": {}}}), encoding="utf-8")
    alignlab.base._check_corpus_hash("embedded-zh", tmp_path)
    (warning,) = logged.warnings()
    assert "missing" in warning and "alignlab base build --name embedded-zh" in warning


def test_hash_is_independent_of_the_order_files_are_given_in() -> None:
    files = GENERATOR_FILES["zh"]
    assert source_hash(files) == source_hash(reversed(files)) == source_hash([*files, files[0]])
    assert source_hash(files) != source_hash(files[1:])


def _local_imports(module: str) -> set[str]:
    """The alignlab.base modules that ``module`` imports."""
    tree = ast.parse((BASE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    return {
        node.module.rsplit(".", 1)[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alignlab.base.")
    }


def _loaded_data(module: str) -> set[str]:
    """The data files that ``module`` loads with ``load_data("name")``."""
    tree = ast.parse((BASE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    return {
        f"data/{node.args[0].value}.yaml"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_data"
    }


@pytest.mark.parametrize("language, entry", [("en", "corpus"), ("zh", "corpus_zh"), ("arith", "corpus_arith")])
def test_the_hash_covers_every_file_the_generator_reads(language: str, entry: str) -> None:
    modules, todo = set(), [entry]
    while todo:
        module = todo.pop()
        if module not in modules and module not in NOT_GENERATORS:
            modules.add(module)
            todo.extend(_local_imports(module))
    files = {f"{m}.py" for m in modules} | {d for m in modules for d in _loaded_data(m)}
    assert files == set(GENERATOR_FILES[language])


@pytest.mark.slow
def test_a_build_records_the_hash_of_its_generator(micro_model_dir: Path, micro_build_config) -> None:
    report = json.loads((micro_model_dir / BUILD_REPORT).read_text(encoding="utf-8"))
    assert report["corpus_hash"] == corpus_hash(micro_build_config)
