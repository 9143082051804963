"""Preference JSONL: validation messages that name the file and line, and tokenisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlab.config import ModelConfig
from alignlab.data import (
    PreferencePair,
    collate_pairs,
    parse_preference_line,
    read_preferences,
    tokenize_pairs,
    write_preferences,
)
from alignlab.errors import DataError

GOOD = {"prompt": "I saw it", "chosen": " and loved it.", "rejected": " and hated it."}


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_round_trip(tmp_path: Path) -> None:
    pairs = [PreferencePair("天气", "很好。", "很差。", 0.5, -0.5), PreferencePair("a", "b", "c")]
    write_preferences(tmp_path / "p.jsonl", pairs)
    assert read_preferences(tmp_path / "p.jsonl") == pairs


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a", "b"]', "line 2: expected a JSON object"),
        (json.dumps({"prompt": "x", "chosen": "y"}), "line 2: missing field 'rejected'"),
        (json.dumps({**GOOD, "chosen": 3}), "line 2: field 'chosen' must be a string"),
        (json.dumps({**GOOD, "rejected": "   "}), "line 2: field 'rejected' is empty"),
        (json.dumps({**GOOD, "chosen_reward": "high"}), "line 2: field 'chosen_reward' must be a finite number"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path, json.dumps(GOOD), line)
    with pytest.raises(DataError) as err:
        read_preferences(path)
    assert str(err.value).startswith(f"{path} {message}")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        read_preferences(write_lines(tmp_path, "", "  "))
    with pytest.raises(DataError, match="not found"):
        read_preferences(tmp_path / "nope.jsonl")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = b'{"prompt": "cafe", "chosen": "a", "rejected": "b"}\n'
    path.write_bytes(good * 2 + b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(DataError, match=r"latin1.jsonl line 3: not UTF-8 text .* at byte 15 of the line"):
        read_preferences(path)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.binary().map(lambda b: b.decode("utf-8", "replace")),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["prompt", "chosen", "rejected", "chosen_reward", "x"]), children, max_size=5
                )
            ),
        ).map(json.dumps),
    )
)
def test_fuzzed_lines_either_parse_or_raise_the_validation_error(line: str) -> None:
    try:
        pair = parse_preference_line(line, "f.jsonl line 1")
    except DataError as err:
        assert str(err).startswith("f.jsonl line 1: ")
    else:
        assert all(
            isinstance(getattr(pair, f), str) and getattr(pair, f).strip() for f in ("prompt", "chosen", "rejected")
        )


def test_tokenize_truncates_or_skips_overlong_pairs(embedded_dir) -> None:
    from alignlab.models import load_tokenizer

    tokenizer = load_tokenizer(ModelConfig())
    long = PreferencePair("I saw it", " and it was " + "very " * 100 + "good.", " bad.")
    short = PreferencePair("I saw it", " good.", " bad.")
    kept, report = tokenize_pairs(tokenizer, [long, short], 16, 24, "truncate")
    assert (report.kept, report.truncated, report.skipped) == (2, 1, 0)
    # A response cut at the limit did not end: no EOS.
    assert len(kept[0].chosen) == 24 and tokenizer.eos_token_id not in kept[0].chosen
    kept, report = tokenize_pairs(tokenizer, [long, short], 16, 24, "skip")
    assert (report.kept, report.truncated, report.skipped) == (1, 0, 1)
    # Responses end with EOS; prompts start with BOS.
    assert kept[0].chosen[-1] == tokenizer.eos_token_id and kept[0].prompt[0] == tokenizer.bos_token_id
    batch = collate_pairs(kept * 2, tokenizer.pad_token_id)
    assert batch.prompt_ids.shape[0] == 4 and batch.response_ids.shape[0] == 4
    assert batch.response_mask.sum(-1).tolist() == [len(kept[0].chosen)] * 2 + [len(kept[0].rejected)] * 2
