"""Verifiable rewards: multi-step arithmetic word problems (issue 26).

A prompt is a word problem of ``num_steps`` events (``alignlab.base.arith_grammar``) followed by a
newline; the policy writes a worked solution and a last line ``Answer: <integer>``, the format the
embedded-arith base model learnt in pretraining. The gold reward is exact: 1 for the right answer
in that format, 0 otherwise (``ArithmeticReward``, which also reports format and correctness
apart). ``num_steps`` is the difficulty knob: each event is one more line to get right.

Three disjoint prompt sets, drawn with ``split_seed``: ``train`` for training, ``validation`` for
choices (hyperparameters, checkpoints), ``test`` for the numbers reported. Whether a problem may be
in a set is decided by the hash of its computation (``arith_grammar.split_of``), so the sets are
disjoint from each other and from the pretraining corpus whatever the seeds and sizes.

On a chat model (``task.chat_template`` auto with a template, or always) each problem is one user
turn that also states the format, since that model never saw the corpus.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from alignlab.base.arith_grammar import ANSWER_PREFIX, Problem, Split, generate_problems
from alignlab.config import TaskConfig
from alignlab.errors import ConfigError
from alignlab.tasks.arithmetic_reward import ArithmeticReward
from alignlab.tasks.prompts import render_prompts, uses_chat_template
from alignlab.tasks.task import Task
from alignlab.tokenization import encode_prompt

# The difficulty of the default task (task.arithmetic_steps, 5 events): on 200 of its test
# prompts the embedded-arith model, 16 samples each at temperature 1, has pass@1 0.35 and pass@8
# 0.91 (scripts/arith_pass_at_k.py: 3 events 0.48 / 0.96, 4 events 0.43 / 0.93, 6 events
# 0.26 / 0.80), so RL has signal. Its prompts take up to 66 tokens and its solutions 61 with EOS:
# more than the defaults of task.max_prompt_tokens and generation.max_new_tokens.
CHAT_INSTRUCTION = (
    f"Solve the problem step by step, one operation per line, and end with a last line of the form "
    f"'{ANSWER_PREFIX} <integer>'."
)


def problem_prompt(problem: Problem) -> str:
    """The raw prompt of a problem: its question and a newline, where the solution begins."""
    return problem.question + "\n"


def split_problems(split: Split, count: int, split_seed: int, num_steps: int) -> list[Problem]:
    """``count`` problems of ``split`` ("train", "validation" or "test")."""
    if split == "pretrain":
        raise ValueError("the pretraining split is the corpus's, not the task's")
    return generate_problems(count, split_seed, split, num_steps)


def check_prompt_lengths(prompts: list[str], tokenizer: PreTrainedTokenizerBase, max_prompt_tokens: int) -> None:
    """A ConfigError unless every prompt fits ``task.max_prompt_tokens``: a prompt cut from the left
    would lose the count the problem starts from, and no answer could then be right."""
    longest = max((len(encode_prompt(tokenizer, p)) for p in prompts), default=0)
    if longest > max_prompt_tokens:
        raise ConfigError(
            f"task.max_prompt_tokens: the arithmetic prompts take up to {longest} tokens, more than "
            f"{max_prompt_tokens}; a prompt cut to fit would lose the count it starts from. Set "
            f"task.max_prompt_tokens to at least {longest}"
        )


def arithmetic_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """``config.num_train_prompts`` training, ``num_validation_prompts`` validation and
    ``num_test_prompts`` test problems of ``arithmetic_steps`` events. With the policy's
    ``tokenizer``, every prompt must fit ``config.max_prompt_tokens`` (``check_prompt_lengths``)."""
    sizes = {
        "train": config.num_train_prompts,
        "validation": config.num_validation_prompts,
        "test": config.num_test_prompts,
    }
    steps = config.arithmetic_steps
    problems = {split: split_problems(split, size, config.split_seed, steps) for split, size in sizes.items()}
    chat = uses_chat_template(config, tokenizer, "arithmetic")
    prompts, answers = {}, {}
    for split, chosen in problems.items():
        if chat:
            texts = render_prompts(
                [f"{p.question}\n{CHAT_INSTRUCTION}" for p in chosen], config, tokenizer, "arithmetic task"
            )
        else:
            texts = [problem_prompt(p) for p in chosen]
        prompts[split] = texts
        answers.update(zip(texts, (p.answer for p in chosen)))
    if tokenizer is not None:
        check_prompt_lengths([p for texts in prompts.values() for p in texts], tokenizer, config.max_prompt_tokens)
    return Task(
        name="arithmetic",
        train_prompts=prompts["train"],
        test_prompts=prompts["test"],
        validation_prompts=prompts["validation"],
        reward=ArithmeticReward(answers),
    )
