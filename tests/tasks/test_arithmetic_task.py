"""The arithmetic task: the generator's answers against Python's own arithmetic and against an
independent reading of the question text, the worked solutions, determinism, and three disjoint
prompt sets held out of the pretraining corpus."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from alignlab.base.arith_grammar import MAX_STEPS, MAX_VALUE, draw_problem, generate_problems, split_of
from alignlab.base.corpus_arith import generate_worked_solutions
from alignlab.config import ModelConfig, TaskConfig
from alignlab.errors import ConfigError
from alignlab.models import load_tokenizer
from alignlab.tasks import load_task
from alignlab.tasks.arithmetic import CHAT_INSTRUCTION, arithmetic_task, split_problems
from alignlab.tasks.arithmetic_reward import parse_answer

# The test's own reading of an event sentence: a pattern and the Python it stands for. Written
# from the meaning of the words, not from the grammar's tables.
EVENT_READINGS = [
    (r"(?:finds|buys|wins) (\d+) more", "+ {}"),
    (r"gets (\d+) more from a friend", "+ {}"),
    (r"a friend gives (?:her|him) (\d+) more", "+ {}"),
    (r"(?:gives away|loses|sells|trades away) (\d+)", "- {}"),
    (r"gives (\d+) to a friend", "- {}"),
    (r"doubles", "* 2"),
    (r"triples", "* 3"),
    (r"half of", "// 2"),
]
QUESTION = re.compile(r"(\w+) has (\d+) (\w+)\. (.*) How many \3 does \1 have now\?")


def read_question(question: str) -> str:
    """The question as a Python expression, read from its words alone."""
    match = QUESTION.fullmatch(question)
    assert match, question
    expression = match.group(2)
    for sentence in match.group(4).split(". "):
        sentence = sentence.rstrip(".").removeprefix("Then ").lower()
        readings = [
            template.format(*m.groups()) for pattern, template in EVENT_READINGS if (m := re.search(pattern, sentence))
        ]
        assert len(readings) == 1, f"ambiguous or unknown event {sentence!r}: {readings}"
        expression = f"({expression}) {readings[0]}"
    return expression


@pytest.fixture(scope="module")
def many_problems() -> list:
    rng = random.Random(2024)
    return [draw_problem(rng, 1 + i % MAX_STEPS) for i in range(4000)]


def test_answers_are_pythons_evaluation_of_the_expression(many_problems: list) -> None:
    for problem in many_problems:
        value = eval(problem.expression)  # true division: a halving of an odd count would show
        assert value == problem.answer and float(value).is_integer(), problem.expression
        assert len(problem.steps) == problem.expression.count("(") + 1


def test_answers_are_what_the_question_says(many_problems: list) -> None:
    for problem in many_problems:
        assert eval(read_question(problem.question)) == problem.answer, problem.question


def test_every_count_stays_in_range_and_halvings_are_exact(many_problems: list) -> None:
    for problem in many_problems:
        assert all(1 <= v <= MAX_VALUE for v in problem.values), problem.values
        for step, before in zip(problem.steps, problem.values):
            assert step.op != "/2" or before % 2 == 0


def test_every_operation_and_length_is_drawn(many_problems: list) -> None:
    ops = Counter(step.op for problem in many_problems for step in problem.steps)
    assert set(ops) == {"+", "-", "*2", "*3", "/2"} and min(ops.values()) > 200
    assert {len(p.steps) for p in many_problems} == set(range(1, MAX_STEPS + 1))


def test_the_solution_computes_each_line_and_ends_with_the_answer(many_problems: list) -> None:
    for problem in many_problems:
        *lines, last = problem.solution().split("\n")
        assert len(lines) == len(problem.steps)
        for line, before, after in zip(lines, problem.values, problem.values[1:]):
            left, right = line.split(" = ")
            assert eval(left) == int(right) == after and left.startswith(f"{before} ")
        assert parse_answer(problem.solution()) == problem.answer and last == f"Answer: {problem.answer}"


def test_a_problem_needs_one_to_max_steps() -> None:
    with pytest.raises(ValueError, match="num_steps must be in"):
        draw_problem(random.Random(0), 0)
    with pytest.raises(ValueError, match="unknown split"):
        generate_problems(3, 0, "dev", 3)
    with pytest.raises(ValueError, match="the pretraining split is the corpus's"):
        split_problems("pretrain", 3, 0, 3)


def test_generation_is_deterministic_per_seed() -> None:
    first = generate_problems(50, 7, "test", 4)
    assert first == generate_problems(50, 7, "test", 4)
    assert first[:20] == generate_problems(20, 7, "test", 4)  # a shorter list is a prefix
    assert [p.question for p in first] != [p.question for p in generate_problems(50, 8, "test", 4)]
    assert len({p.question for p in first}) == 50
    assert all(len(p.steps) == 4 and split_of(p.skeleton) == "test" for p in first)


def test_split_shares_follow_the_hash() -> None:
    rng = random.Random(5)
    counts = Counter(split_of(draw_problem(rng, 5).skeleton) for _ in range(20_000))
    shares = {split: count / 20_000 for split, count in counts.items()}
    assert shares == pytest.approx({"pretrain": 0.8, "train": 0.1, "validation": 0.05, "test": 0.05}, abs=0.01)


def config(**overrides: object) -> TaskConfig:
    settings = {"num_train_prompts": 300, "num_test_prompts": 100, "num_validation_prompts": 100, **overrides}
    settings.setdefault("max_prompt_tokens", 80)
    return TaskConfig(name="arithmetic", **settings)


def test_three_prompt_sets_are_disjoint_and_held_out_of_pretraining() -> None:
    task = arithmetic_task(config())
    train, validation, test = task.train_prompts, task.validation_prompts, task.test_prompts
    assert (len(train), len(validation), len(test)) == (300, 100, 100)
    assert len(set(train) | set(validation) | set(test)) == 500
    # Disjoint by computation, not only by wording.
    skeletons = {
        name: {p.skeleton for p in generate_problems(n, 1234, name, TaskConfig().arithmetic_steps)}
        for name, n in (("train", 300), ("validation", 100), ("test", 100))
    }
    assert not skeletons["train"] & skeletons["validation"]
    assert not (skeletons["train"] | skeletons["validation"]) & skeletons["test"]
    corpus = generate_worked_solutions(3000, 0)
    corpus_questions = [doc.text.split("\n", 1)[0] for doc in corpus]
    assert all(split_of(re_skeleton(q)) == "pretrain" for q in corpus_questions[:500])
    assert not set(corpus_questions) & {p.rstrip("\n") for p in train + validation + test}


def re_skeleton(question: str) -> str:
    """The skeleton of a question, from the test's own reading of it ("7 +5 -4 *2")."""
    expression = read_question(question)
    start = re.match(r"\(*(\d+)", expression).group(1)
    ops = re.findall(r"\) (\+|-|\*|//) (\d+)", expression)
    return " ".join([start] + [("/" if op == "//" else op) + k for op, k in ops])


def test_the_task_is_deterministic_and_its_reward_knows_every_prompt() -> None:
    task = arithmetic_task(config(num_train_prompts=20, num_test_prompts=10))
    again = arithmetic_task(config(num_train_prompts=20, num_test_prompts=10))
    assert (task.train_prompts, task.validation_prompts, task.test_prompts) == (
        again.train_prompts,
        again.validation_prompts,
        again.test_prompts,
    )
    other_seed = arithmetic_task(config(num_train_prompts=20, num_test_prompts=10, split_seed=99))
    assert task.test_prompts != other_seed.test_prompts
    assert all(p.endswith("?\n") for p in task.train_prompts)
    problems = generate_problems(10, 1234, "test", TaskConfig().arithmetic_steps)
    right = [p.solution() for p in problems]
    assert task.reward(task.test_prompts, right) == [1.0] * 10
    assert task.reward(task.test_prompts, right[1:] + right[:1]) != [1.0] * 10


def test_difficulty_is_the_number_of_events_per_problem() -> None:
    for steps in (1, 6):
        task = arithmetic_task(config(num_train_prompts=5, num_test_prompts=5, arithmetic_steps=steps))
        assert all(p.count("Then ") == steps - 1 for p in task.train_prompts + task.test_prompts)


@pytest.fixture
def chat_tokenizer(monkeypatch: pytest.MonkeyPatch) -> PreTrainedTokenizerBase:
    tokenizer = load_tokenizer(ModelConfig())
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    monkeypatch.setattr(tokenizer, "chat_template", template)
    return tokenizer


def test_on_a_chat_model_the_prompt_states_the_format(chat_tokenizer: PreTrainedTokenizerBase) -> None:
    task = arithmetic_task(config(num_train_prompts=3, num_test_prompts=2, max_prompt_tokens=256), chat_tokenizer)
    problems = generate_problems(2, 1234, "test", TaskConfig().arithmetic_steps)
    assert task.test_prompts == [
        f"<|im_start|>user\n{p.question}\n{CHAT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n" for p in problems
    ]
    assert "'Answer: <integer>'" in CHAT_INSTRUCTION
    assert task.reward(task.test_prompts, [f"Answer: {p.answer}" for p in problems]) == [1.0, 1.0]
    raw = arithmetic_task(
        config(num_train_prompts=3, num_test_prompts=2, chat_template="never", max_prompt_tokens=256), chat_tokenizer
    )
    assert raw.test_prompts == [p.question + "\n" for p in problems]


@pytest.mark.slow
def test_the_shipped_base_model_solves_some_problems_sometimes() -> None:
    """embedded-arith on 40 test prompts of the default difficulty, 8 samples each at temperature 1:
    it keeps the format it learnt, and is right often enough for RL to find signal but far from
    always (the full table: scripts/arith_pass_at_k.py)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignlab.models import resolve_model_path
    from scripts.arith_pass_at_k import measure

    path = resolve_model_path("embedded-arith")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    row = measure(model, AutoTokenizer.from_pretrained(path), TaskConfig().arithmetic_steps, 40, 8, 1.0, 0)
    assert row["format_rate"] > 0.85 and row["ended_rate"] > 0.95
    assert 0.2 < row["pass@1"] < 0.5 and row["pass@8"] > 0.7


def test_load_task_builds_it_and_prompts_must_fit_max_prompt_tokens() -> None:
    """With the embedded-arith tokenizer the default difficulty's prompts need up to 66 tokens
    (BOS included): TaskConfig's default 64 would cut the start off some, so it is refused."""
    tokenizer = load_tokenizer(ModelConfig(name_or_path="embedded-arith"))
    task = load_task(config(num_train_prompts=512, num_test_prompts=128), tokenizer)
    assert task.name == "arithmetic" and task.reward.name == "arithmetic"
    longest = max(
        len(tokenizer(p)["input_ids"]) for p in task.train_prompts + task.validation_prompts + task.test_prompts
    )
    assert 64 < longest <= 80
    with pytest.raises(
        ConfigError, match=f"task.max_prompt_tokens: the arithmetic prompts take up to {longest} tokens"
    ):
        load_task(config(num_train_prompts=512, num_test_prompts=128, max_prompt_tokens=64), tokenizer)
    load_task(config(num_train_prompts=512, num_test_prompts=128, max_prompt_tokens=longest), tokenizer)
