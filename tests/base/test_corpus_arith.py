"""The embedded-arith corpus: worked solutions whose slips propagate, loose endings the reward
refuses, shares near their settings, a fixed seed; and the digit-splitting tokenizer."""

from __future__ import annotations

import random
import re

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from alignlab.base.arith_grammar import draw_problem, split_of
from alignlab.base.corpus_arith import (
    LOOSE_ENDING_PROB,
    SLIP_PROB,
    STEP_WEIGHTS,
    arith_corpus_stats,
    generate_arith_documents,
    generate_worked_solutions,
    write_solution,
)
from alignlab.base.corpus_data import generator_hash
from alignlab.base.pretrain import build_base_model
from alignlab.base.tokenizer import train_tokenizer
from alignlab.config import BaseBuildConfig
from alignlab.tasks.arithmetic_reward import parse_answer

LINE = re.compile(r"(-?\d+) ([-+*/]) (\d+) = (-?\d+)")


@pytest.fixture(scope="module")
def corpus():
    return generate_worked_solutions(6000, 0)


def test_each_line_computes_from_the_line_before_slip_or_not(corpus) -> None:
    """A slip is a wrong result that the next line carries on from: every line starts from the
    count the line before wrote, and is right up to the slips, which are 2 or 10 off and never
    negative (a later line may go below 0 from a slipped count); halvings stay exact."""
    for doc in corpus:
        question, *lines, ending = doc.text.split("\n")
        count = int(re.search(r"has (\d+) ", question).group(1))
        slips = 0
        for line in lines:
            left, op, operand, result = LINE.fullmatch(line).groups()
            assert int(left) == count, doc.text
            exact = eval(f"{left} {op} {operand}")
            off = int(result) - exact
            assert off in (0, -10, -2, 2, 10) and (off == 0 or int(result) >= 0), doc.text
            slips += off != 0
            count = int(result)
        assert slips == doc.slips
        assert doc.answer_line == (parse_answer(doc.text) is not None)
        if doc.answer_line:
            assert ending == f"Answer: {count}"
        else:
            assert str(count) in ending and "Answer" not in ending


def test_right_means_the_problems_answer_and_the_reward_agrees(corpus) -> None:
    rng = random.Random(3)
    for _ in range(2000):
        problem = draw_problem(rng, rng.randint(1, 6))
        doc = write_solution(problem, rng)
        final = int(re.findall(r"-?\d+", doc.text.split("\n")[-1])[-1])  # the count the ending states
        assert doc.right == (final == problem.answer)
        assert (parse_answer(doc.text) == problem.answer) == (doc.right and doc.answer_line)


def test_shares_are_near_their_settings(corpus) -> None:
    stats = arith_corpus_stats(corpus)
    mean_steps = sum(k * w for k, w in STEP_WEIGHTS.items()) / sum(STEP_WEIGHTS.values())
    assert stats["num_docs"] == 6000
    assert stats["mean_steps"] == pytest.approx(mean_steps, abs=0.1)
    assert stats["answer_line_fraction"] == pytest.approx(1 - LOOSE_ENDING_PROB, abs=0.015)
    # A document of s lines has no slip with probability (1 - p)^s.
    clean = sum(w * (1 - SLIP_PROB) ** k for k, w in STEP_WEIGHTS.items()) / sum(STEP_WEIGHTS.values())
    assert stats["slip_fraction"] == pytest.approx(1 - clean, abs=0.02)
    # Two slips can cancel, so a right answer is a little more common than no slip.
    assert clean - 0.005 <= stats["right_fraction"] <= clean + 0.02
    assert stats["rewarded_fraction"] == pytest.approx(stats["right_fraction"] * (1 - LOOSE_ENDING_PROB), abs=0.02)


def test_documents_are_pretraining_problems_distinct_and_seeded(corpus) -> None:
    texts = [doc.text for doc in corpus]
    assert len(set(texts)) == len(texts)
    assert all(split_of(problem_skeleton(text)) == "pretrain" for text in texts[:1000])
    assert generate_arith_documents(300, 0) == texts[:300]
    assert generate_arith_documents(300, 1) != texts[:300]


def problem_skeleton(text: str) -> str:
    """The skeleton from the worked lines of a document (operands as written, slip or not)."""
    question, *lines, _ = text.split("\n")
    start = re.search(r"has (\d+) ", question).group(1)
    return " ".join([start] + [f"{m.group(2)}{m.group(3)}" for m in map(LINE.fullmatch, lines)])


def test_the_digit_tokenizer_spells_numbers_digit_by_digit() -> None:
    texts = generate_arith_documents(500, 0)
    tokenizer = train_tokenizer(texts, 512, split_digits=True)
    ids = tokenizer("12 * 3 = 36\nAnswer: 108", add_special_tokens=False)["input_ids"]
    digits = [t for t in tokenizer.convert_ids_to_tokens(ids) if any(c.isdigit() for c in t)]
    assert digits == ["1", "2", "3", "3", "6", "1", "0", "8"]
    assert tokenizer.decode(ids) == "12 * 3 = 36\nAnswer: 108"
    assert all(tokenizer.decode(tokenizer(t)["input_ids"], skip_special_tokens=True) == t for t in texts[:50])
    # Without the split, BPE learns multi-digit tokens from the same texts.
    merged = train_tokenizer(texts, 512)
    tokens = merged.convert_ids_to_tokens(merged("36 + 12 = 48", add_special_tokens=False)["input_ids"])
    assert any(sum(c.isdigit() for c in t) > 1 for t in tokens)


@pytest.mark.slow
def test_a_micro_arith_build_records_its_corpus_and_spells_digits(tmp_path) -> None:
    """The build path of embedded-arith at toy size: the arithmetic corpus, its statistics and
    hash in the report, a digit-splitting tokenizer saved with the model, the same on a rebuild."""
    config = BaseBuildConfig(
        num_reviews=0,
        num_arith_problems=300,
        num_eval_docs=20,
        vocab_size=512,
        split_digits=True,
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=64,
        block_size=64,
        epochs=1,
        batch_size=8,
    )
    report = build_base_model(config, tmp_path / "first")
    assert set(report["corpus"]) == {"arith"} and report["corpus"]["arith"]["num_docs"] == 300
    assert report["corpus_hash"] == generator_hash(["arith"])
    assert set(report["heldout"]) == {"arith"}
    assert [row["prompt"][-2:] for row in report["samples"]] == ["?\n"] * 3
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "first")
    assert tokenizer.tokenize("Answer: 108")[-3:] == ["1", "0", "8"]
    build_base_model(config, tmp_path / "second")
    first, second = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("first", "second"))
    assert all(torch.equal(first[k], second[k]) for k in first)
