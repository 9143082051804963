"""Hub and user data set tasks, read offline from fixtures in the hub data sets' schemas
(tests/fixtures/hub; the parquet files come from tests/fixtures/make_fixtures.py)."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import PreTrainedTokenizerBase

from alignlab.config import ModelConfig, TaskConfig
from alignlab.data import PreferencePair
from alignlab.errors import ConfigError, DataError
from alignlab.models import load_tokenizer
from alignlab.tasks import Task, load_task
from alignlab.tasks.hub import (
    HH_RLHF_ID,
    SKIP_EMPTY,
    SKIP_NO_ASSISTANT,
    SKIP_PROMPTS_DIFFER,
    ULTRAFEEDBACK_ID,
    clean_review,
    conversation_record,
    hh_rlhf_record,
    load_rows,
    read_pairs,
    review_prefix,
    split_transcript,
)
from alignlab.tasks.rewards import VaderSentiment

FIXTURES = Path(__file__).parents[1] / "fixtures"
HH_DIR = FIXTURES / "hub" / "hh-rlhf"
ULTRAFEEDBACK_DIR = FIXTURES / "hub" / "ultrafeedback_binarized"
IMDB_DIR = FIXTURES / "hub" / "imdb"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def task_config(name: str, dataset: Path | str | None, **overrides: object) -> TaskConfig:
    """The task on ``dataset``, holding out 2 prompts unless told otherwise (the fixtures are small)."""
    overrides = {"num_test_prompts": 2, **overrides}
    return TaskConfig(name=name, dataset=None if dataset is None else str(dataset), **overrides)


def assert_held_out(task: Task) -> None:
    """Eval prompts are never trained on; the training prompts are exactly those of the pairs."""
    assert task.test_prompts and task.train_prompts and task.preference_pairs
    pair_prompts = {pair.prompt for pair in task.preference_pairs}
    assert not pair_prompts & set(task.test_prompts)
    assert pair_prompts == set(task.train_prompts)
    assert len(set(task.train_prompts)) == len(task.train_prompts)


@pytest.fixture(scope="module")
def chat_tokenizer() -> PreTrainedTokenizerBase:
    tokenizer = load_tokenizer(ModelConfig())
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


# --- hh-rlhf -----------------------------------------------------------------------------------


def read_all_hh_pairs() -> list[PreferencePair]:
    rows, source = load_rows(task_config("hh-rlhf", HH_DIR), HH_RLHF_ID)
    return read_pairs(rows, source, hh_rlhf_record)[0]


def test_split_transcript_hand_checked() -> None:
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a colour.\n\nAssistant: Blue."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a colour.\n\nAssistant:  Seven."
    assert split_transcript(chosen, rejected) == {
        "prompt": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Name a colour.\n\nAssistant:",
        "chosen": "Blue.",
        "rejected": "Seven.",
    }
    parted = "\n\nHuman: Hi\n\nAssistant: Hey.\n\nHuman: Name a colour.\n\nAssistant: Red."
    assert split_transcript(chosen, parted) == SKIP_PROMPTS_DIFFER
    assert split_transcript("\n\nHuman: Hi", rejected) == SKIP_NO_ASSISTANT


def test_hh_rlhf_rows_split_and_skips_counted() -> None:
    rows, source = load_rows(task_config("hh-rlhf", HH_DIR), HH_RLHF_ID)
    pairs, skipped = read_pairs(rows, source, hh_rlhf_record)
    assert len(rows) == 9 and len(pairs) == 7
    assert skipped == Counter({SKIP_PROMPTS_DIFFER: 1, SKIP_EMPTY: 1})
    lisbon = pairs[1]
    assert lisbon.prompt == (
        "\n\nHuman: I'm going to Lisbon in March. Is it warm enough for the beach?"
        "\n\nAssistant: March in Lisbon is mild, usually around 15 to 18 degrees Celsius, but the sea is still cold."
        "\n\nHuman: So should I pack a swimsuit or not?\n\nAssistant:"
    )
    assert lisbon.chosen.startswith("Pack one if you like a brisk swim")
    assert lisbon.rejected == "No."
    assert lisbon.chosen_reward is None and lisbon.rejected_reward is None


def test_hh_rlhf_task_holds_out_test_prompts() -> None:
    task = load_task(task_config("hh-rlhf", HH_DIR))
    assert (task.name, task.language, task.reward) == ("hh-rlhf", "en", None)
    assert_held_out(task)
    # 7 pairs over 6 prompts (two rows share the boiled-egg prompt); 2 prompts held out.
    assert len(task.test_prompts) == 2 and len(task.train_prompts) == 4
    assert len(task.preference_pairs) == 7 - sum(pair.prompt in task.test_prompts for pair in read_all_hh_pairs())


def test_hh_rlhf_is_deterministic_and_the_seed_matters() -> None:
    first = load_task(task_config("hh-rlhf", HH_DIR / "train.jsonl"))
    assert load_task(task_config("hh-rlhf", HH_DIR)) == first
    held_out = {tuple(load_task(task_config("hh-rlhf", HH_DIR, split_seed=s)).test_prompts) for s in range(5)}
    assert len(held_out) > 1


def test_max_examples_and_num_train_prompts_bound_the_data() -> None:
    task = load_task(task_config("hh-rlhf", HH_DIR, max_examples=5, num_train_prompts=2))
    assert len(task.train_prompts) == 2 and len(task.test_prompts) == 2
    first_rows = {pair.prompt for pair in read_all_hh_pairs()[:4]}  # rows 1-5 hold pairs 1-4
    assert set(task.train_prompts + task.test_prompts) <= first_rows


# --- ultrafeedback -------------------------------------------------------------------------------


def test_ultrafeedback_rows_use_the_chat_template(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    rows, source = load_rows(task_config("ultrafeedback", ULTRAFEEDBACK_DIR), ULTRAFEEDBACK_ID)
    pairs, skipped = read_pairs(rows, source, partial(conversation_record, tokenizer=chat_tokenizer))
    assert len(rows) == 8 and len(pairs) == 7 and skipped == Counter({SKIP_EMPTY: 1})
    capital = pairs[2]
    assert capital.prompt == "<|user|>What is the capital of Australia?\n<|assistant|>"
    assert capital.chosen == "The capital of Australia is Canberra."
    assert capital.rejected == "Sydney is the capital of Australia."
    assert (capital.chosen_reward, capital.rejected_reward) == (10.0, 2.0)
    multi_turn = pairs[3]
    assert multi_turn.prompt == (
        "<|user|>I have 3 apples and buy 5 more. How many do I have?\n<|assistant|>You have 8 apples.\n"
        "<|user|>And if I eat two?\n<|assistant|>"
    )
    assert multi_turn.chosen == "Then you have 6 apples left."


def test_ultrafeedback_task(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    task = load_task(task_config("ultrafeedback", ULTRAFEEDBACK_DIR / "train.parquet"), chat_tokenizer)
    assert task.reward is None
    assert_held_out(task)
    assert len(task.preference_pairs) == 5
    assert all(pair.chosen_reward > pair.rejected_reward for pair in task.preference_pairs)


def test_ultrafeedback_needs_a_chat_template(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    config = task_config("ultrafeedback", ULTRAFEEDBACK_DIR)
    with pytest.raises(ConfigError, match="task 'ultrafeedback'.*no tokenizer"):
        load_task(config)
    plain = load_tokenizer(ModelConfig())
    assert plain.chat_template is None
    with pytest.raises(ConfigError, match="task 'ultrafeedback'.*chat_template is None"):
        load_task(config, plain)


# --- imdb ----------------------------------------------------------------------------------------


def imdb_reviews(split: str) -> list[str]:
    return [clean_review(text) for text in pq.read_table(IMDB_DIR / f"{split}.parquet").column("text").to_pylist()]


def is_prefix_of_any(prompt: str, reviews: list[str]) -> bool:
    return any(review.startswith(prompt + " ") for review in reviews)


def test_clean_review_and_review_prefix() -> None:
    assert clean_review("Great.<br /><br />Really <BR/>great.") == "Great. Really great."
    assert review_prefix("Too short", random.Random(0)) is None
    rng = random.Random(0)
    review = "one two three four five six seven eight nine ten"
    lengths = {len(review_prefix(review, rng).split()) for _ in range(200)}
    assert lengths == set(range(2, 9))
    assert review_prefix("one two three", rng) == "one two"


def test_imdb_prompts_are_held_out_review_prefixes() -> None:
    task = load_task(task_config("imdb", IMDB_DIR, num_test_prompts=5, num_train_prompts=10))
    assert isinstance(task.reward, VaderSentiment) and task.preference_pairs is None and task.language == "en"
    assert len(task.train_prompts) == 10 and len(task.test_prompts) == 5
    assert not set(task.train_prompts) & set(task.test_prompts)
    train_reviews = imdb_reviews("train")
    for prompt in task.train_prompts + task.test_prompts:
        assert "<br" not in prompt and 2 <= len(prompt.split()) <= 8
        assert is_prefix_of_any(prompt, train_reviews)
    again = load_task(task_config("imdb", IMDB_DIR, num_test_prompts=5, num_train_prompts=10))
    assert (again.train_prompts, again.test_prompts) == (task.train_prompts, task.test_prompts)


def test_imdb_reads_the_configured_split() -> None:
    task = load_task(task_config("imdb", IMDB_DIR, split="test", num_train_prompts=4))
    test_reviews = imdb_reviews("test")
    assert all(is_prefix_of_any(prompt, test_reviews) for prompt in task.train_prompts + task.test_prompts)


# --- jsonl (the user's own file) -------------------------------------------------------------


def test_user_jsonl_and_parquet_give_the_same_task() -> None:
    from_jsonl = load_task(task_config("jsonl", FIXTURES / "prefs.jsonl"))
    assert from_jsonl.reward is None
    assert_held_out(from_jsonl)
    assert load_task(task_config("jsonl", FIXTURES / "prefs.parquet")) == from_jsonl
    lines = [json.loads(line) for line in (FIXTURES / "prefs.jsonl").read_text(encoding="utf-8").splitlines()]
    rewards = {row["chosen"]: (row.get("chosen_reward"), row.get("rejected_reward")) for row in lines}
    assert all(rewards[p.chosen] == (p.chosen_reward, p.rejected_reward) for p in from_jsonl.preference_pairs)


def test_user_file_takes_a_configured_reward() -> None:
    config = task_config("jsonl", FIXTURES / "prefs.jsonl", reward="alignlab.tasks.seed_reward:seed_heuristic_reward")
    assert load_task(config).reward is not None


def test_user_task_needs_a_dataset() -> None:
    with pytest.raises(ConfigError, match="task.dataset"):
        load_task(task_config("jsonl", None))


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


GOOD_ROW = {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No.", "chosen_reward": 1.0, "rejected_reward": 0.0}


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({**GOOD_ROW, "chosen": None}, "row 3: field 'chosen' must be a string"),
        ({**GOOD_ROW, "rejected": "  "}, "row 3: field 'rejected' is empty"),
        ({**GOOD_ROW, "chosen_reward": math.nan}, "row 3: field 'chosen_reward' must be a finite number"),
    ],
)
def test_bad_parquet_row_names_file_and_row(tmp_path: Path, bad_row: dict, message: str) -> None:
    path = write_parquet(tmp_path / "prefs.parquet", [GOOD_ROW, GOOD_ROW, bad_row, GOOD_ROW])
    with pytest.raises(DataError) as err:
        load_task(task_config("jsonl", path))
    assert str(err.value).startswith(f"{path} {message}")


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(GOOD_ROW) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{path} line 2: not valid JSON"):
        load_task(task_config("jsonl", path))


# --- errors common to every loader -----------------------------------------------------------


def test_hub_id_offline_is_one_data_error() -> None:
    with pytest.raises(DataError, match="dataset 'alignlab-tests/no-such-set': .*hub is unreachable"):
        load_task(task_config("hh-rlhf", "alignlab-tests/no-such-set"))


@pytest.mark.parametrize(
    ("name", "dataset", "message"),
    [
        ("hh-rlhf", "missing.parquet", "file not found"),
        ("imdb", FIXTURES / "prefs.jsonl", "missing column\\(s\\) text \\(expected the schema of stanfordnlp/imdb\\)"),
        ("hh-rlhf", HH_DIR, "split 'validation'"),
    ],
)
def test_bad_sources_are_data_errors(name: str, dataset: Path | str, message: str) -> None:
    split = "validation" if "validation" in message else "train"
    with pytest.raises(DataError, match=message):
        load_task(task_config(name, dataset, split=split))


def test_unreadable_or_unknown_files_are_data_errors(tmp_path: Path) -> None:
    csv = tmp_path / "pairs.csv"
    csv.write_text("prompt,chosen,rejected\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{csv}: unsupported file type"):
        load_task(task_config("hh-rlhf", csv))
    broken = tmp_path / "train.jsonl"
    broken.write_text('{"chosen": "a", "rejected": \n', encoding="utf-8")
    with pytest.raises(DataError, match=f"{broken}: cannot read split 'train'"):
        load_task(task_config("hh-rlhf", broken))


def test_too_few_prompts_for_the_held_out_set() -> None:
    with pytest.raises(DataError, match="task.num_test_prompts=50"):
        load_task(task_config("hh-rlhf", HH_DIR, num_test_prompts=50))
