"""DPO throughput: alignlab's trainer against TRL's DPOTrainer and a seed-style per-pair loop.

All three train the same model on the same preference pairs with the same batch size and
sequence lengths, with reference log-probs computed before training (TRL:
``precompute_ref_log_probs=True``; the seed-style loop gets them for free), and only the
training steps are timed. TRL runs at its best CPU settings (``use_cpu=True, bf16=False,
gradient_checkpointing=False``). The seed-style loop is the notebook's structure with its
gradient bug fixed: one pair at a time, separate forwards for chosen and rejected.

    python benchmarks/dpo.py [--json out.json] [--pairs 512] [--batch-size 32]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from _common import parser, report

from alignlab.config import load_config
from alignlab.data import PreferencePair
from alignlab.layout import TrainingDir
from alignlab.losses import dpo_loss
from alignlab.models import load_causal_lm, load_tokenizer, resolve_model_path
from alignlab.pipeline import sample_preferences
from alignlab.tasks import load_task
from alignlab.tokenization import encode_prompt, encode_response
from alignlab.trainers import TrainInputs, train

REPO = Path(__file__).resolve().parents[1]


def ours(config, pairs: list[PreferencePair], workdir: Path, seed: int) -> tuple[float, int]:
    summary = train(TrainInputs("dpo", config, seed=seed, pairs=pairs), TrainingDir(workdir / "ours"))
    return summary["cost"]["wall_time_s"], summary["steps"] * config.dpo.batch_size


def trl(config, pairs: list[PreferencePair], workdir: Path, seed: int, steps: int) -> float:
    """Seconds TRL spends inside its optimizer steps (as ours counts its own)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    class StepTimer(TrainerCallback):
        total = 0.0

        def on_step_begin(self, *args, **kwargs) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, *args, **kwargs) -> None:
            self.total += time.perf_counter() - self.started

    path = resolve_model_path(config.model.name_or_path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    args = DPOConfig(
        output_dir=str(workdir / "trl"),
        per_device_train_batch_size=config.dpo.batch_size,
        gradient_accumulation_steps=1,
        max_steps=steps,
        learning_rate=config.dpo.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        beta=config.dpo.beta,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=True,
        max_length=config.task.max_prompt_tokens + config.task.max_response_tokens,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=max(steps // 4, 1),
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=seed,
    )
    assert args.use_cpu and not args.bf16 and not args.gradient_checkpointing, "TRL is not at its CPU settings"
    dataset = Dataset.from_list([{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in pairs])
    timer = StepTimer()
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return timer.total


def seed_style(config, pairs: list[PreferencePair], n_pairs: int) -> float:
    """Seconds to train on ``n_pairs`` pairs one at a time (batch of size ``batch_size`` per step)."""
    tokenizer = load_tokenizer(config.model)
    policy = load_causal_lm(config.model, torch.device("cpu"), trainable=True)
    reference = load_causal_lm(config.model, torch.device("cpu"), trainable=False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.dpo.lr)

    max_prompt, max_response = config.task.max_prompt_tokens, config.task.max_response_tokens

    def logp(model, prompt_ids: list[int], response_ids: list[int]) -> torch.Tensor:
        ids = torch.tensor([prompt_ids + response_ids])
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
        return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response_ids).unsqueeze(-1)).sum()

    started = time.perf_counter()
    batch = config.dpo.batch_size
    for start in range(0, n_pairs, batch):
        losses = []
        for pair in pairs[start : start + batch]:
            prompt = encode_prompt(tokenizer, pair.prompt, max_prompt)
            chosen = encode_response(tokenizer, pair.chosen, pair.chosen_ended, max_response).ids
            rejected = encode_response(tokenizer, pair.rejected, pair.rejected_ended, max_response).ids
            with torch.no_grad():
                ref_c, ref_r = logp(reference, prompt, chosen), logp(reference, prompt, rejected)
            out = dpo_loss(logp(policy, prompt, chosen), logp(policy, prompt, rejected), ref_c, ref_r, config.dpo.beta)
            losses.append(out.losses)
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed-style-pairs", type=int, default=64, help="Pairs for the (slow) seed-style loop.")
    p.add_argument(
        "--prompts", type=int, default=None, help="Training prompts to sample pairs from (default: the preset's)."
    )
    args = p.parse_args()
    overrides = [
        f"model.name_or_path={args.model}",
        f"dpo.batch_size={args.batch_size}",
        "dpo.epochs=1",
        "dpo.eval_fraction=0",
        "evaluation.checkpoints=1",
    ]
    if args.prompts is not None:
        overrides.append(f"task.num_train_prompts={args.prompts}")
    config = load_config(REPO / "configs" / "default.yaml", overrides)
    # A chat model's prompts rendered in its template; TRL gets the same prompt strings.
    task = load_task(config.task, load_tokenizer(config.model))
    pairs = sample_preferences(config, task)[: args.pairs]
    steps = len(pairs) // args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        ours_s, ours_pairs = ours(config, pairs, Path(tmp), args.seed)
        trl_s = trl(config, pairs[: steps * args.batch_size], Path(tmp), args.seed, steps)
    seed_pairs = min(args.seed_style_pairs, len(pairs))
    seed_s = seed_style(config, pairs, seed_pairs)
    ours_rate, trl_rate, seed_rate = ours_pairs / ours_s, steps * args.batch_size / trl_s, seed_pairs / seed_s
    report(
        {
            "ours_pairs_per_s": ours_rate,
            "trl_pairs_per_s": trl_rate,
            "seed_loop_pairs_per_s": seed_rate,
            "ratio_vs_trl": ours_rate / trl_rate,
            "speedup_vs_seed_loop": ours_rate / seed_rate,
            "pairs": ours_pairs,
            "batch_size": args.batch_size,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
