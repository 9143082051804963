"""Preference data: the JSONL format, its validation, and tokenisation into training batches.

A preference file holds one JSON object per line::

    {"prompt": "...", "chosen": "...", "rejected": "...", "chosen_reward": 0.7, "rejected_reward": -0.2}

The rewards are optional (files from elsewhere have none), and so are ``chosen_ended`` and
``rejected_ended`` (default true): false marks a completion cut at the length limit, which then
gets no EOS in training. Every problem is reported as a
``DataError`` naming the file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from alignlab.batch import Sequences, collate
from alignlab.errors import DataError
from alignlab.tokenization import encode_prompt, encode_response

TEXT_FIELDS = ("prompt", "chosen", "rejected")
REWARD_FIELDS = ("chosen_reward", "rejected_reward")
ENDED_FIELDS = ("chosen_ended", "rejected_ended")


@dataclass
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float | None = None
    rejected_reward: float | None = None
    # False for a completion that was cut at the length limit: it gets no EOS in training.
    chosen_ended: bool = True
    rejected_ended: bool = True


def parse_preference_line(line: str, where: str) -> PreferencePair:
    """One JSONL line -> a pair, or a DataError naming ``where`` (``FILE line N``)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    return parse_preference_record(record, where)


def parse_preference_record(record: object, where: str) -> PreferencePair:
    """One decoded record (a JSON object, a table row) -> a pair, or a DataError naming ``where``."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object with {', '.join(TEXT_FIELDS)}, got {type(record).__name__}")
    for name in TEXT_FIELDS:
        if name not in record:
            raise DataError(f"{where}: missing field '{name}'")
        value = record[name]
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
        if not value.strip():
            raise DataError(f"{where}: field '{name}' is empty")
    rewards = {}
    for name in REWARD_FIELDS:
        value = record.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise DataError(f"{where}: field '{name}' must be a finite number, got {value!r}")
        rewards[name] = None if value is None else float(value)
    ended = {}
    for name in ENDED_FIELDS:
        value = record.get(name, True)
        if not isinstance(value, bool):
            raise DataError(f"{where}: field '{name}' must be true or false, got {value!r}")
        ended[name] = value
    return PreferencePair(record["prompt"], record["chosen"], record["rejected"], **rewards, **ended)


def read_preferences(path: str | Path) -> list[PreferencePair]:
    """Read and validate a preference JSONL file (blank lines are allowed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: preference file not found")
    pairs = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path} line {number}: not UTF-8 text ({err.reason} at byte {err.start} of the line)"
                ) from None
            if line.strip():
                pairs.append(parse_preference_line(line, f"{path} line {number}"))
    if not pairs:
        raise DataError(f"{path}: no preference pairs (the file is empty)")
    return pairs


def write_preferences(path: str | Path, pairs: Iterable[PreferencePair]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Tokenisation
# --------------------------------------------------------------------------------------------


@dataclass
class TokenizedPair:
    prompt: list[int]
    chosen: list[int]
    rejected: list[int]


@dataclass
class TokenizeReport:
    kept: int = 0
    truncated: int = 0
    skipped: int = 0


def tokenize_example(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    responses: Sequence[tuple[str, bool]],
    max_prompt_tokens: int,
    max_response_tokens: int,
) -> tuple[list[int], list[list[int]], bool]:
    """(prompt ids, response ids, whether anything was cut) for one prompt and its responses
    (text, ended): the prompt keeps its special prefix and its end, a response its start; a
    response that ended gets the EOS, unless it is cut (then it did not end)."""
    full_prompt = encode_prompt(tokenizer, prompt)
    prompt_ids = encode_prompt(tokenizer, prompt, max_prompt_tokens)
    cut = len(full_prompt) != len(prompt_ids)
    response_ids = []
    for text, ended in responses:
        response = encode_response(tokenizer, text, ended, max_response_tokens)
        cut |= response.cut
        response_ids.append(response.ids)
    return prompt_ids, response_ids, cut


def tokenize_pairs(
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[PreferencePair],
    max_prompt_tokens: int,
    max_response_tokens: int,
    overlong: str = "truncate",
) -> tuple[list[TokenizedPair], TokenizeReport]:
    """Token ids of each pair, over-long ones truncated (``overlong='truncate'``) or dropped
    (``'skip'``); the report counts both."""
    report = TokenizeReport()
    out = []
    for pair in pairs:
        prompt, (chosen, rejected), cut = tokenize_example(
            tokenizer,
            pair.prompt,
            [(pair.chosen, pair.chosen_ended), (pair.rejected, pair.rejected_ended)],
            max_prompt_tokens,
            max_response_tokens,
        )
        if cut:
            if overlong == "skip":
                report.skipped += 1
                continue
            report.truncated += 1
        out.append(TokenizedPair(prompt, chosen, rejected))
        report.kept += 1
    return out, report


def collate_pairs(batch: Sequence[TokenizedPair], pad_token_id: int) -> Sequences:
    """Chosen rows then rejected rows of the same prompts, in one batch of ``2B`` rows, so both go
    through the model in a single forward."""
    prompts = [p.prompt for p in batch] * 2
    responses = [p.chosen for p in batch] + [p.rejected for p in batch]
    return collate(prompts, responses, pad_token_id)
