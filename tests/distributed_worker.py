"""The worker of the data-parallel tests (``tests/test_distributed.py``): tiny DPO, reward-model,
PPO, GRPO and RLOO runs one after another through ``alignlab train`` (called in this process),
all in one process group, plus the advantage pipeline on this process's shard of a fixed batch.

    python tests/distributed_worker.py OUT PAIRS SCORER                  # the one-process reference
    torchrun --standalone --nproc_per_node 2 tests/distributed_worker.py OUT PAIRS SCORER

PAIRS is a preference JSONL (``write_pairs``); SCORER a reward model that PPO and RLOO optimise,
the same for both launches (the worker's own reward model is only compared).

Each run writes its usual files under ``OUT/<name>/``; under several processes the worker first
checks that an uneven prompt split is refused before anything runs (``OUT/uneven.json``), and
every rank writes its advantage results (``OUT/advantages-rank<R>.safetensors``). ``OUT/done.json``
(rank 0, last) names the number of processes. Batch sizes are global, so the same settings mean
2 processes x B rows against 1 process x 2B rows.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
# Shorter responses than the smoke preset's 24 tokens: the runs only have to be compared.
COMMON = ["generation.max_new_tokens=16"]
RUNS: dict[str, tuple[list[str], list[str]]] = {
    # name: (arguments of `alignlab train`, --set overrides).
    "dpo": (["dpo", "--data", "{pairs}"], ["dpo.batch_size=16", "dpo.max_steps=3", "dpo.eval_fraction=0.25"]),
    "rm": (
        ["rm", "--data", "{pairs}"],
        [
            "reward_model.batch_size=16",
            "reward_model.grad_accum_steps=2",
            "reward_model.max_steps=3",
            "reward_model.eval_fraction=0.25",
            "reward_model.normalize_samples=8",
        ],
    ),
    "ppo": (
        ["ppo", "--reward-model", "{scorer}"],
        ["ppo.iterations=2", "ppo.prompts_per_iteration=8", "ppo.batch_size=8", "ppo.grad_accum_steps=2"],
    ),
    "grpo": (
        ["grpo"],
        [
            "grpo.reward_source=gold",
            "grpo.iterations=2",
            "grpo.prompts_per_iteration=4",
            # One optimizer step an iteration: log pi_old comes from the update's own forward.
            "grpo.batch_size=16",
            "grpo.update_epochs=1",
            "grpo.grad_accum_steps=2",
        ],
    ),
    "rloo": (
        ["rloo", "--reward-model", "{scorer}"],
        ["rloo.iterations=2", "rloo.prompts_per_iteration=4", "rloo.batch_size=8", "rloo.update_epochs=1"],
    ),
}
# 7 prompts do not split over 2 processes.
UNEVEN = ["grpo.prompts_per_iteration=7", "grpo.batch_size=4", "grpo.group_size=4"]


def write_pairs(path: Path, count: int = 64) -> Path:
    """``count`` made-up preference pairs (a JSONL file): the runs only have to be compared."""
    import random

    rng = random.Random(0)
    good = ["a warm, funny and moving film", "great acting and a clever story", "I loved every minute of it"]
    bad = ["a dull and tedious mess", "the plot made no sense at all", "I wanted my money back"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            prompt = f"Review {i}: the {rng.choice(['movie', 'film', 'show'])} was"
            pair = {"prompt": prompt, "chosen": " " + rng.choice(good) + ".", "rejected": " " + rng.choice(bad) + "."}
            f.write(json.dumps(pair) + "\n")
    return path


def train_scorer(pairs: Path, out: Path) -> Path:
    """A briefly trained reward model for PPO and RLOO to optimise (its model directory)."""
    from alignlab.config import load_config
    from alignlab.data import read_preferences
    from alignlab.layout import TrainingDir
    from alignlab.trainers import TrainInputs
    from alignlab.trainers import train as train_method

    settings = ["reward_model.batch_size=8", "reward_model.max_steps=1", "reward_model.eval_fraction=0"]
    settings.append("reward_model.normalize=false")
    train_method(
        TrainInputs("rm", load_config(SMOKE, settings), pairs=read_preferences(pairs), prompts=[]), TrainingDir(out)
    )
    return out / "model"


def train(method_args: list[str], settings: list[str], out: Path) -> None:
    """``alignlab train ...`` in this process (exceptions propagate)."""
    from alignlab.cli import app

    args = ["train", *method_args, "--config", str(SMOKE), "--out", str(out)]
    for setting in COMMON + settings:
        args += ["--set", setting]
    app(args, standalone_mode=False)


# ------------------------------------------------------------------ the advantage pipeline

ROWS, WIDTH = 16, 12


def advantage_batch() -> dict[str, torch.Tensor]:
    """A fixed global batch of 16 responses (4 groups of 4) right-padded to 12 tokens: the first
    half's responses are at most 7 tokens long, so a first-half shard is narrower than the batch
    (as generation leaves it) and gathering must re-pad it; one group has equal scores, and one
    response is empty."""
    generator = torch.Generator().manual_seed(1234)
    lengths = torch.cat(
        [
            torch.randint(1, 8, (ROWS // 2,), generator=generator),
            torch.randint(1, WIDTH + 1, (ROWS // 2,), generator=generator),
        ]
    )
    lengths[ROWS // 2 + 1] = WIDTH
    lengths[3] = 0
    mask = (torch.arange(WIDTH) < lengths[:, None]).float()
    score = torch.randn(ROWS, generator=generator) * 2 + 0.5
    score[4:8] = 0.25
    logprobs = -torch.rand(ROWS, WIDTH, generator=generator) * 3 * mask
    ref_logprobs = -torch.rand(ROWS, WIDTH, generator=generator) * 3 * mask
    values = torch.randn(ROWS, WIDTH, generator=generator) * mask
    return {"mask": mask, "score": score, "logprobs": logprobs, "ref_logprobs": ref_logprobs, "values": values}


def advantage_pipeline(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Everything the online trainers compute over the global batch before their update, with
    the trainers' own functions and the smoke preset's method settings."""
    from alignlab.config import load_config, method_config
    from alignlab.losses import explained_variance, informative_groups, kl_estimate
    from alignlab.trainers.policy_gradient import advantages_of
    from alignlab.trainers.ppo import advantages_and_returns

    config = load_config(SMOKE)
    mask, score = batch["mask"], batch["score"]
    kl = kl_estimate(batch["logprobs"], batch["ref_logprobs"], "k1") * mask
    ppo = method_config(config, "ppo").ppo
    advantages, returns = advantages_and_returns(ppo, score, kl, batch["values"], mask, ppo.kl_coef)
    out = {
        "ppo/advantages": advantages,
        "ppo/returns": returns,
        "ppo/explained_variance": explained_variance(batch["values"], returns, mask).reshape(1),
        "objective/kl": kl.sum(-1).mean().reshape(1),
    }
    for method, section in (("grpo", "grpo"), ("dr-grpo", "grpo"), ("rloo", "rloo"), ("reinforce++", "reinforce_pp")):
        cfg = getattr(method_config(config, method), section)
        out[f"{method}/advantages"] = advantages_of(cfg, score, kl, mask)
    dapo = method_config(config, "dapo").grpo
    # Which groups dynamic sampling would keep: those whose rewards differ.
    out["dapo/informative"] = informative_groups(score.view(-1, dapo.group_size)).float()
    return out


def shard_and_gather(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This process's contiguous rows, cropped to their own longest response (as sampling leaves
    them), then gathered back into the global batch as the online trainers gather theirs."""
    from alignlab import distributed
    from alignlab.trainers.online import my_share

    mine = {k: my_share(v) for k, v in batch.items()}
    width = max(int(mine["mask"].sum(-1).max()), 1)
    mine = {k: v[:, :width] if v.dim() == 2 else v for k, v in mine.items()}
    return {k: distributed.gather_rows(v) for k, v in mine.items()}


def main(out: Path, pairs: Path, scorer: Path) -> None:
    from accelerate import PartialState
    from safetensors.torch import save_file

    from alignlab import distributed
    from alignlab.errors import ConfigError

    state = PartialState(cpu=True)  # the process group, as the trainers' accelerators find it
    out.mkdir(parents=True, exist_ok=True)
    processes = state.num_processes
    if processes > 1:
        try:
            train(["grpo"], UNEVEN, out / "uneven")
            refusal = None
        except ConfigError as err:
            refusal = str(err)
        left = sorted(str(p.relative_to(out / "uneven")) for p in (out / "uneven").rglob("*"))
        if state.is_main_process:
            (out / "uneven.json").write_text(json.dumps({"refusal": refusal, "files": left}), encoding="utf-8")
    for name, (method_args, settings) in RUNS.items():
        filled = [a.format(pairs=pairs, scorer=scorer) for a in method_args]
        train(filled, settings, out / name)
    gathered = shard_and_gather(advantage_batch())
    results = advantage_pipeline(gathered)
    results["inputs/mask"] = gathered["mask"]
    save_file(
        {k: v.contiguous() for k, v in results.items()}, str(out / f"advantages-rank{distributed.rank()}.safetensors")
    )
    state.wait_for_everyone()
    if state.is_main_process:
        (out / "done.json").write_text(json.dumps({"processes": processes}), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
