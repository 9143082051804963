"""The sentiment task's prompts: stored for the usual split, exactly what drawing them gives, and
drawn afresh (with a note) where the stored ones cannot serve."""

from __future__ import annotations

import logging

import pytest

import alignlab.base.corpus
from alignlab.config import TaskConfig
from alignlab.tasks import load_task, sentiment
from alignlab.tasks.sentiment import POOL_FILE, POOL_SIZE, review_prompts, stored_pool, task_prompts


@pytest.fixture(scope="module")
def pretraining() -> set[str]:
    return sentiment.pretraining_reviews()


class Notes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def notes():
    """Messages that the alignlab logger records, at any level."""
    logger, handler = logging.getLogger("alignlab"), Notes()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_stored_prompts_are_what_the_code_draws(tmp_path) -> None:
    # Written afresh, the file is byte for byte the one shipped (generator hash included).
    sentiment.write_prompt_pool(tmp_path / "prompts.json")
    assert (tmp_path / "prompts.json").read_text(encoding="utf-8") == POOL_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("num_prompts", [24 + 64, 384 + 128, 512 + 128])  # smoke, default preset, TaskConfig()
def test_every_preset_gets_the_prompts_it_always_drew(num_prompts: int, pretraining: set[str]) -> None:
    assert stored_pool()["prompts"][:num_prompts] == review_prompts(num_prompts, 1234, pretraining)


def test_task_loads_without_generating_reviews(monkeypatch: pytest.MonkeyPatch, notes: list[str]) -> None:
    def refuse(*args: object) -> list[str]:
        raise AssertionError("the sentiment task generated reviews")

    monkeypatch.setattr(sentiment, "generate_reviews", refuse)
    monkeypatch.setattr(alignlab.base.corpus, "generate_reviews", refuse)
    task = load_task(TaskConfig(num_train_prompts=384, num_test_prompts=128))
    assert len(task.train_prompts) == 384 and len(task.test_prompts) == 128
    assert task.train_prompts + task.test_prompts == stored_pool()["prompts"][:512]
    assert not set(task.train_prompts) & set(task.test_prompts)
    assert not any("afresh" in note for note in notes)


def test_another_split_seed_draws_afresh_with_a_note(
    monkeypatch: pytest.MonkeyPatch, pretraining: set[str], notes: list[str]
) -> None:
    monkeypatch.setattr(sentiment, "pretraining_reviews", lambda: pretraining)
    task = load_task(TaskConfig(num_train_prompts=10, num_test_prompts=5, split_seed=7))
    assert task.train_prompts + task.test_prompts == review_prompts(15, 7, pretraining)
    assert task.train_prompts != stored_pool()["prompts"][:10]
    assert any("split_seed is 7" in note for note in notes)


def test_more_prompts_than_stored_are_drawn_and_begin_with_the_stored_ones(
    monkeypatch: pytest.MonkeyPatch, pretraining: set[str], notes: list[str]
) -> None:
    # A pool of 20 stands in for the full one, so the test stays fast.
    small = {**stored_pool(), "prompts": stored_pool()["prompts"][:20]}
    monkeypatch.setattr(sentiment, "stored_pool", lambda: small)
    monkeypatch.setattr(sentiment, "pretraining_reviews", lambda: pretraining)
    prompts = task_prompts(30, 1234)
    assert len(prompts) == 30 and prompts[:20] == small["prompts"]
    assert any("30 prompts asked for, 20 stored" in note for note in notes)


def test_a_pool_from_another_generator_is_not_used(
    monkeypatch: pytest.MonkeyPatch, pretraining: set[str], notes: list[str]
) -> None:
    stale = {**stored_pool(), "generator_hash": "0" * 64, "prompts": ["stale"] * POOL_SIZE}
    monkeypatch.setattr(sentiment, "stored_pool", lambda: stale)
    monkeypatch.setattr(sentiment, "pretraining_reviews", lambda: pretraining)
    assert task_prompts(40, 1234) == stored_pool()["prompts"][:40]
    assert any("review generator has changed" in note for note in notes)


def test_validation_prompts_are_disjoint_and_leave_train_and_test_as_they_were() -> None:
    """Choices are made on validation prompts; asking for them changes no training or test prompt."""
    without = load_task(TaskConfig(num_train_prompts=384, num_test_prompts=128))
    task = load_task(TaskConfig(num_train_prompts=384, num_test_prompts=128, num_validation_prompts=64))
    assert (task.train_prompts, task.test_prompts) == (without.train_prompts, without.test_prompts)
    assert len(task.validation_prompts) == 64 and not without.validation_prompts
    assert not set(task.validation_prompts) & (set(task.train_prompts) | set(task.test_prompts))
    assert task.prompts("validation") == task.validation_prompts and task.prompts("test") == task.test_prompts


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's own tokenizer and ChatML template (converted from its package once)."""
    pytest.importorskip("gguf")
    from alignlab.config import ModelConfig
    from alignlab.models import load_tokenizer

    return load_tokenizer(ModelConfig(name_or_path="smollm2-135m-instruct"))


def test_on_a_chat_model_each_prefix_is_a_user_turn_asking_to_continue_it(smollm2_tokenizer) -> None:
    config = TaskConfig(num_train_prompts=6, num_test_prompts=3)
    raw, chat = load_task(config), load_task(config, smollm2_tokenizer)
    for prefix, prompt in zip(raw.train_prompts + raw.test_prompts, chat.train_prompts + chat.test_prompts):
        # ChatML: the template's default system turn, the user turn, then the assistant's turn begins.
        assert prompt == (
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            f"<|im_start|>user\n{sentiment.CHAT_INSTRUCTION}\n\n{prefix}<|im_end|>\n<|im_start|>assistant\n"
        )
    # The gold reward is VADER on the response alone: the instruction and the prefix do not count.
    assert chat.reward(chat.test_prompts[:1], ["A wonderful film."]) == raw.reward(
        raw.test_prompts[:1], ["A wonderful film."]
    )
    never = load_task(TaskConfig(num_train_prompts=6, num_test_prompts=3, chat_template="never"), smollm2_tokenizer)
    assert never.train_prompts == raw.train_prompts


def test_the_embedded_model_has_no_chat_template_and_keeps_its_prompts_byte_for_byte(embedded_dir) -> None:
    from alignlab.config import ModelConfig
    from alignlab.errors import ConfigError
    from alignlab.models import load_tokenizer

    tokenizer = load_tokenizer(ModelConfig(name_or_path="embedded"))
    assert tokenizer.chat_template is None
    task = load_task(TaskConfig(num_train_prompts=384, num_test_prompts=128), tokenizer)
    assert task.train_prompts + task.test_prompts == stored_pool()["prompts"][:512]
    with pytest.raises(ConfigError, match="chat template"):
        load_task(TaskConfig(num_train_prompts=6, num_test_prompts=3, chat_template="always"), tokenizer)
