"""The 'prompts' task: the user's prompts file (JSONL, text or parquet) split into training and
held-out prompts. The fixtures in tests/fixtures/prompts hold the same 12 prompts in each format
(the JSONL and parquet files with an extra 'id' field, the JSONL and text files with a blank line)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import PreTrainedTokenizerBase

from alignlab.config import ModelConfig, TaskConfig
from alignlab.errors import ConfigError, DataError
from alignlab.models import load_tokenizer
from alignlab.tasks import Task, load_task
from alignlab.tasks.prompts import prompt_language, prompts_task, read_prompts
from alignlab.tasks.rewards import VaderSentiment

FIXTURES = Path(__file__).parents[1] / "fixtures" / "prompts"
FORMATS = ("prompts.jsonl", "prompts.txt", "prompts.parquet")
PROMPTS = [
    "Write a haiku about the sea.",
    "Explain why the sky is blue in two sentences.",
    "The best thing about rainy days is",
    "List three uses of a paperclip.",
    "Summarise the plot of a heist film in one line.",
    "What makes a good cup of tea?",
    "Describe a city at night.",
    "Give a friendly reminder to drink water.",
    "The movie started slowly, but",
    "Suggest a name for a small bakery.",
    "How do bees make honey?",
    "Tell a very short story about a lost key.",
]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking is defined and not enable_thinking %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def config(dataset: Path | str | None = FIXTURES / "prompts.jsonl", **overrides: object) -> TaskConfig:
    """The prompts task on ``dataset``, holding out 3 prompts unless told otherwise, raw text by default."""
    overrides = {"num_test_prompts": 3, "chat_template": "never", **overrides}
    return TaskConfig(name="prompts", dataset=None if dataset is None else str(dataset), **overrides)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    """The embedded tokenizer, which has no chat template."""
    return load_tokenizer(ModelConfig())


@pytest.fixture
def chat_tokenizer(tokenizer: PreTrainedTokenizerBase, monkeypatch: pytest.MonkeyPatch) -> PreTrainedTokenizerBase:
    monkeypatch.setattr(tokenizer, "chat_template", CHATML)
    return tokenizer


def chatml(prompt: str, thinking: str = "") -> str:
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{thinking}"


# --- reading and splitting --------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_reads_the_prompts_in_file_order(name: str) -> None:
    assert read_prompts(FIXTURES / name) == PROMPTS


def test_formats_give_the_same_task() -> None:
    tasks = [prompts_task(config(FIXTURES / name)) for name in FORMATS]
    first = tasks[0]
    assert all((t.train_prompts, t.test_prompts) == (first.train_prompts, first.test_prompts) for t in tasks)
    assert first.name == "prompts" and first.reward is None and first.preference_pairs is None
    assert first.language == "en"


def test_split_is_seeded_deterministic_and_disjoint() -> None:
    task = prompts_task(config())
    assert (len(task.train_prompts), len(task.test_prompts)) == (9, 3)
    assert not set(task.train_prompts) & set(task.test_prompts)
    assert sorted(task.train_prompts + task.test_prompts) == sorted(PROMPTS)
    again = prompts_task(config())
    assert (again.train_prompts, again.test_prompts) == (task.train_prompts, task.test_prompts)
    # A different seed is a different permutation (file order is not kept).
    other = prompts_task(config(split_seed=7))
    assert other.train_prompts + other.test_prompts != task.train_prompts + task.test_prompts
    assert task.train_prompts + task.test_prompts != PROMPTS


def test_caps_apply() -> None:
    task = prompts_task(config(num_train_prompts=4, num_test_prompts=2))
    assert (len(task.train_prompts), len(task.test_prompts)) == (4, 2)
    # The held-out prompts do not depend on the training cap.
    assert task.test_prompts == prompts_task(config(num_test_prompts=2)).test_prompts
    few = prompts_task(config(max_examples=5, num_test_prompts=2))
    assert (len(few.train_prompts), len(few.test_prompts)) == (3, 2)
    assert set(few.train_prompts + few.test_prompts) == set(PROMPTS[:5])


def test_duplicates_are_dropped_and_text_lines_keep_their_spaces(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "\ufeffone\n  \ntwo \r\none\n\nthree\n")
    assert read_prompts(path) == ["one", "two ", "one", "three"]
    task = prompts_task(config(path, num_test_prompts=1))
    assert sorted(task.train_prompts + task.test_prompts) == ["one", "three", "two "]


def test_chinese_prompts_make_a_chinese_task(tmp_path: Path) -> None:
    path = write(tmp_path / "zh.txt", "请写一首关于春天的诗。\n介绍一下长城。\n今天天气怎么样?\n")
    assert prompts_task(config(path, num_test_prompts=1)).language == "zh"
    assert prompt_language(["Write a poem about 春天"]) == "en"


def test_load_task_registers_prompts_and_a_named_reward_replaces_none() -> None:
    assert load_task(config()).reward is None
    task = load_task(config(reward="vader"))
    assert isinstance(task, Task) and isinstance(task.reward, VaderSentiment)


# --- bad input --------------------------------------------------------------------------------


def parquet(path: Path, **columns: list) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "p.jsonl",
            '{"prompt": "a"}\n\n[1, 2]\n',
            "p.jsonl line 3: expected a JSON object with a 'prompt' string, got list",
        ),
        ("p.jsonl", '{"prompt": "a"}\n{"text": "b"}\n', "p.jsonl line 2: missing field 'prompt'"),
        ("p.jsonl", '{"prompt": "a"}\n{"prompt": "  "}\n', "p.jsonl line 2: field 'prompt' is empty"),
        ("p.jsonl", '{"prompt": 3}\n', "p.jsonl line 1: field 'prompt' must be a string, got int"),
        (
            "p.jsonl",
            '{"prompt": "a"}\n{"prompt": "b"\n',
            "p.jsonl line 2: not valid JSON (Expecting ',' delimiter at column",
        ),
        ("p.jsonl", "\n\n", "p.jsonl: no prompts (the file is empty)"),
        ("p.txt", "   \n\n", "p.txt: no prompts (the file is empty)"),
        (
            "p.csv",
            "prompt\na\n",
            "p.csv: unsupported file type for task 'prompts'; expected one of .jsonl, .txt, .parquet",
        ),
    ],
)
def test_bad_text_files_name_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path}/{message}")):
        prompts_task(config(path))


def test_bad_files(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    cases = [
        (tmp_path / "missing.jsonl", "missing.jsonl: prompts file not found"),
        (latin1, "latin1.txt: not UTF-8 text (invalid continuation byte at byte 3)"),
        (parquet(tmp_path / "cols.parquet", text=["a", "b"]), "cols.parquet: no 'prompt' column (columns: text)"),
        (
            parquet(tmp_path / "null.parquet", prompt=["a", None]),
            "null.parquet row 2: field 'prompt' is missing (null)",
        ),
        (parquet(tmp_path / "empty.parquet", prompt=["a", ""]), "empty.parquet row 2: field 'prompt' is empty"),
        (
            parquet(tmp_path / "ints.parquet", prompt=[1, 2]),
            "ints.parquet row 1: field 'prompt' must be a string, got int",
        ),
        (write(tmp_path / "broken.parquet", "not parquet"), "broken.parquet: cannot read parquet:"),
    ]
    for path, message in cases:
        with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path}/{message}")):
            prompts_task(config(path))
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(DataError, match="dir.txt: not a file"):
        prompts_task(config(tmp_path / "dir.txt"))


def test_too_few_prompts_for_an_eval_split(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "one\ntwo\none\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: only 2 distinct prompts, none left for training")):
        prompts_task(config(path, num_test_prompts=2))
    task = prompts_task(config(path, num_test_prompts=1))
    assert len(task.train_prompts) == len(task.test_prompts) == 1


def test_no_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="task.dataset: task 'prompts' needs the path"):
        prompts_task(config(None))


# --- chat template ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_chat_template_renders_each_prompt_as_a_user_turn(chat_tokenizer: PreTrainedTokenizerBase, mode: str) -> None:
    raw = prompts_task(config())
    task = prompts_task(config(chat_template=mode), chat_tokenizer)
    assert task.train_prompts == [chatml(p) for p in raw.train_prompts]
    assert task.test_prompts == [chatml(p) for p in raw.test_prompts]


def test_chat_template_kwargs_reach_the_template(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    task = prompts_task(config(chat_template="always", chat_template_kwargs={"enable_thinking": False}), chat_tokenizer)
    raw = prompts_task(config())
    assert task.test_prompts == [chatml(p, "<think>\n\n</think>\n\n") for p in raw.test_prompts]


def test_raw_text_when_told_or_without_a_tokenizer(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    raw = prompts_task(config())
    assert prompts_task(config(chat_template="never"), chat_tokenizer).train_prompts == raw.train_prompts
    assert prompts_task(config(chat_template="auto")).train_prompts == raw.train_prompts


def test_auto_without_a_template_keeps_raw_text(tokenizer: PreTrainedTokenizerBase) -> None:
    assert tokenizer.chat_template is None
    assert prompts_task(config(chat_template="auto"), tokenizer).test_prompts == prompts_task(config()).test_prompts


def test_always_without_a_template_is_a_config_error(tokenizer: PreTrainedTokenizerBase) -> None:
    with pytest.raises(ConfigError, match="tokenizer has none"):
        prompts_task(config(chat_template="always"), tokenizer)
    with pytest.raises(ConfigError, match="got no tokenizer"):
        prompts_task(config(chat_template="always"))


def test_validation_prompts_come_after_training_and_are_disjoint() -> None:
    task = prompts_task(config(num_train_prompts=6, num_validation_prompts=3))
    assert (len(task.train_prompts), len(task.validation_prompts), len(task.test_prompts)) == (6, 3, 3)
    assert set(task.train_prompts + task.validation_prompts + task.test_prompts) == set(PROMPTS)
    # The test prompts do not depend on how many validation prompts are asked for.
    assert task.test_prompts == prompts_task(config(num_train_prompts=6)).test_prompts
    with pytest.raises(DataError, match="num_validation_prompts=4"):
        prompts_task(config(num_train_prompts=6, num_validation_prompts=4))
