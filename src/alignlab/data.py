"""Preference data: the JSONL format, its validation, and tokenisation into training batches.

A preference file holds one JSON object per line::

    {"prompt": "...", "chosen": "...", "rejected": "...", "chosen_reward": 0.7, "rejected_reward": -0.2}

The rewards are optional (files from elsewhere have none). Every problem is reported as a
``DataError`` naming the file and line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from alignlab.errors import DataError
from alignlab.rollout import pad_left, pad_right

TEXT_FIELDS = ("prompt", "chosen", "rejected")
REWARD_FIELDS = ("chosen_reward", "rejected_reward")


@dataclass
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float | None = None
    rejected_reward: float | None = None


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
    return PreferencePair(record["prompt"], record["chosen"], record["rejected"], **rewards)


def read_preferences(path: str | Path) -> list[PreferencePair]:
    """Read and validate a preference JSONL file (blank lines are allowed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: preference file not found")
    pairs = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    pairs.append(parse_preference_line(line, f"{path} line {number}"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
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


def encode_response(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Response tokens followed by EOS, the way the policy ends a response."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def tokenize_pairs(
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[PreferencePair],
    max_prompt_tokens: int,
    max_response_tokens: int,
    overlong: str = "truncate",
) -> tuple[list[TokenizedPair], TokenizeReport]:
    """Token ids of each pair. Over-long prompts keep their end, over-long responses their start
    (``overlong='truncate'``), or the pair is dropped (``'skip'``); the report counts both."""
    report = TokenizeReport()
    out = []
    for pair in pairs:
        prompt = tokenizer(pair.prompt, add_special_tokens=True)["input_ids"]
        chosen, rejected = encode_response(tokenizer, pair.chosen), encode_response(tokenizer, pair.rejected)
        too_long = len(prompt) > max_prompt_tokens or max(len(chosen), len(rejected)) > max_response_tokens
        if too_long:
            if overlong == "skip":
                report.skipped += 1
                continue
            report.truncated += 1
            prompt = prompt[-max_prompt_tokens:]
            chosen, rejected = chosen[:max_response_tokens], rejected[:max_response_tokens]
        out.append(TokenizedPair(prompt, chosen, rejected))
        report.kept += 1
    return out, report


def collate_responses(
    prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """alignlab's batch layout: left-padded prompt block, right-padded response block."""
    prompt_rows = [torch.tensor(p, dtype=torch.long) for p in prompts]
    response_rows = [torch.tensor(r, dtype=torch.long) for r in responses]
    prompt_ids = pad_left(prompt_rows, pad_token_id)
    response_ids = pad_right(response_rows, pad_token_id)
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": pad_left([torch.ones(len(p), dtype=torch.long) for p in prompt_rows], 0, prompt_ids.shape[1]),
        "response_ids": response_ids,
        "response_mask": pad_right(
            [torch.ones(len(r), dtype=torch.long) for r in response_rows], 0, response_ids.shape[1]
        ),
    }


def collate_pairs(batch: Sequence[TokenizedPair], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Chosen rows then rejected rows of the same prompts, in one batch of ``2B`` rows, so both go
    through the model in a single forward."""
    prompts = [p.prompt for p in batch] * 2
    responses = [p.chosen for p in batch] + [p.rejected for p in batch]
    return collate_responses(prompts, responses, pad_token_id)
