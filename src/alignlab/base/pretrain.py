"""Build the embedded base model: corpus -> BPE tokenizer -> a tiny Qwen3 pretrained on it.

The result is an ordinary Hugging Face checkpoint (``save_pretrained``) that every part of
alignlab loads through ``AutoModelForCausalLM``, exactly like a hub model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from alignlab.base.corpus import generate_reviews
from alignlab.base.corpus_data import BUILD_REPORT, corpus_hash
from alignlab.base.corpus_stats import corpus_stats, zh_corpus_stats
from alignlab.base.review_prompts import split_prompt
from alignlab.base.tokenizer import train_tokenizer
from alignlab.config import BaseBuildConfig, SamplingConfig, save_config
from alignlab.files import write_json
from alignlab.log import logger
from alignlab.optim import build_optimizer, build_scheduler, create_accelerator
from alignlab.progress import progress_task
from alignlab.rollout import decode_responses, sample, tokenize_prompts
from alignlab.text import text_units

# Seeds of the held-out streams are offset so no setting of ``seed`` makes them coincide.
EVAL_SEED_OFFSET = 1_000_003


@dataclass
class Corpus:
    train: list[str]
    eval_by_language: dict[str, list[str]]
    stats: dict[str, Any]


def documents(
    generate: Callable[[int, int], list[Any]], count: int, config: BaseBuildConfig, text: Callable[[Any], str] = str
) -> tuple[list[Any], list[str]]:
    """``count`` generated documents to train on, and ``num_eval_docs`` held-out texts drawn from
    another seed stream, none of them a training document."""
    train = generate(count, config.seed)
    seen = {text(doc) for doc in train}
    held_out = [text(doc) for doc in generate(config.num_eval_docs * 2, config.seed + EVAL_SEED_OFFSET)]
    return train, [t for t in held_out if t not in seen][: config.num_eval_docs]


def make_corpus(config: BaseBuildConfig) -> Corpus:
    """Training documents and held-out documents (never seen in training), per language."""
    train: list[str] = []
    eval_by_language: dict[str, list[str]] = {}
    stats: dict[str, Any] = {}
    if config.num_reviews:
        reviews, eval_by_language["en"] = documents(generate_reviews, config.num_reviews, config)
        train += reviews
        stats["en"] = corpus_stats(reviews)
    if config.num_zh_texts:
        from alignlab.base.corpus_zh import generate_zh_texts

        texts, eval_by_language["zh"] = documents(generate_zh_texts, config.num_zh_texts, config)
        train += texts
        stats["zh"] = zh_corpus_stats(texts)
    if config.num_arith_problems:
        from alignlab.base.corpus_arith import arith_corpus_stats, generate_worked_solutions

        docs, eval_by_language["arith"] = documents(
            generate_worked_solutions, config.num_arith_problems, config, lambda doc: doc.text
        )
        train += [doc.text for doc in docs]
        stats["arith"] = arith_corpus_stats(docs)
    return Corpus(train, eval_by_language, stats)


def encode_documents(tokenizer: PreTrainedTokenizerFast, documents: list[str]) -> list[list[int]]:
    """BOS + text + EOS per document (the tokenizer adds BOS)."""
    ids = tokenizer(documents, add_special_tokens=True)["input_ids"]
    return [row + [tokenizer.eos_token_id] for row in ids]


def pack(token_rows: list[list[int]], block_size: int) -> torch.Tensor:
    """Concatenate documents and cut the stream into ``(N, block_size)`` blocks (tail dropped)."""
    stream = torch.tensor([t for row in token_rows for t in row], dtype=torch.long)
    n_blocks = len(stream) // block_size
    return stream[: n_blocks * block_size].view(n_blocks, block_size)


def model_config(config: BaseBuildConfig, tokenizer: PreTrainedTokenizerFast) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        head_dim=config.hidden_size // config.num_heads,
        max_position_embeddings=4 * config.block_size,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@torch.no_grad()
def heldout_nll(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, documents: list[str], batch_size: int = 64
) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of whole documents and their token count (EOS
    included, BOS given)."""
    model.eval()
    rows = encode_documents(tokenizer, documents)
    total_nll, total_tokens = 0.0, 0
    device = next(model.parameters()).device
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(r) for r in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        total_nll += float((nll * mask[:, 1:]).sum())
        total_tokens += int(mask[:, 1:].sum())
    model.train()
    return total_nll, total_tokens


def heldout_report(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, documents: list[str]
) -> dict[str, float]:
    """Perplexity per token and per text unit (word, or Han character), and tokens per unit.
    Per-unit figures compare models whose tokenizers differ; per-token ones do not."""
    nll, tokens = heldout_nll(model, tokenizer, documents)
    units = sum(len(text_units(doc)) for doc in documents)
    return {
        "perplexity_per_token": math.exp(nll / max(tokens, 1)),
        "perplexity_per_unit": math.exp(nll / max(units, 1)),
        "tokens_per_unit": tokens / max(units, 1),
    }


def build_base_model(config: BaseBuildConfig, out_dir: Path) -> dict[str, Any]:
    """Generate the corpus, train the tokenizer, pretrain, evaluate and save to ``out_dir``.
    Deterministic for a given config on a given machine. Returns the build report."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    accelerator = create_accelerator(config, out_dir / "build", config.seed, config.grad_accum_steps)
    corpus = make_corpus(config)
    logger.info("corpus: %d training documents", len(corpus.train))
    tokenizer = train_tokenizer(corpus.train, config.vocab_size, config.split_digits)
    blocks = pack(encode_documents(tokenizer, corpus.train), config.block_size)

    torch.manual_seed(config.seed)
    model = Qwen3ForCausalLM(model_config(config, tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %.2fM parameters, %d blocks of %d tokens", n_params / 1e6, len(blocks), config.block_size)

    micro_batch = config.batch_size // config.grad_accum_steps
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        TensorDataset(blocks), batch_size=micro_batch, shuffle=True, generator=generator, drop_last=True
    )
    total_steps = config.epochs * (len(loader) // config.grad_accum_steps)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    accelerator.init_trackers("pretrain")

    step, losses = 0, []
    train_started = time.perf_counter()
    with progress_task("pretraining", total_steps, enabled=accelerator.is_main_process) as advance:
        for _ in range(config.epochs):
            for (batch,) in loader:
                with accelerator.accumulate(model):
                    loss = model(input_ids=batch, labels=batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    if accelerator.sync_gradients:
                        scheduler.step()
                    optimizer.zero_grad()
                if accelerator.sync_gradients:
                    step += 1
                    losses.append(float(loss.detach()))
                    accelerator.log({"pretrain/loss": losses[-1], "pretrain/lr": scheduler.get_last_lr()[0]}, step=step)
                    advance(loss=losses[-1])
    train_time = time.perf_counter() - train_started
    accelerator.end_training()

    model = accelerator.unwrap_model(model)
    report: dict[str, Any] = {
        "parameters": n_params,
        "vocab_size": len(tokenizer),
        "train_tokens": int(blocks.numel()),
        "optimizer_steps": step,
        "final_train_loss": sum(losses[-20:]) / max(len(losses[-20:]), 1),
        "train_time_s": train_time,
        "train_tokens_per_s": blocks.numel() * config.epochs / train_time,
        "heldout": {lang: heldout_report(model, tokenizer, docs) for lang, docs in corpus.eval_by_language.items()},
        "corpus": corpus.stats,
        "samples": sample_continuations(model, tokenizer, corpus.eval_by_language, config.seed),
    }
    model.config.use_cache = True
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(getattr(torch, config.save_dtype)).save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    save_config(config, out_dir / "build_config.yaml")
    report["build_time_s"] = time.perf_counter() - started
    # What the corpus was drawn by, so that loading the model can tell if the generator changed.
    report["corpus_hash"] = corpus_hash(config)
    write_json(out_dir / BUILD_REPORT, report)
    return report


def sample_continuations(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, eval_docs: dict[str, list[str]], seed: int, n: int = 3
) -> list[dict[str, str]]:
    """A few continuations of held-out English prefixes, of the seed notebook's prompts and of
    held-out arithmetic questions (their first line)."""
    import random

    rng = random.Random(seed)
    prompts = [split_prompt(doc, rng)[0] for doc in eval_docs.get("en", [])[:n]]
    if "zh" in eval_docs:
        from alignlab.base.zh_grammar import ZH_PROMPTS

        prompts += list(ZH_PROMPTS[:n])
    prompts += [doc.split("\n", 1)[0] + "\n" for doc in eval_docs.get("arith", [])[:n]]
    ids, mask = tokenize_prompts(tokenizer, prompts)
    torch.manual_seed(seed)
    rollout = sample(model, tokenizer, ids, mask, SamplingConfig(max_new_tokens=48, temperature=0.7))
    texts = decode_responses(tokenizer, rollout)
    return [{"prompt": p, "completion": c} for p, c in zip(prompts, texts)]
