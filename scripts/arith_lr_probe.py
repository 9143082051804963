"""The learning-rate probe behind configs/arithmetic.yaml: GRPO and DPO at three learning rates
each, trained on seed 1000 (no reported seed) and judged on 64 validation prompts x 8 samples
(never the test prompts). Prints each setting's validation accuracy and KL.

    python scripts/arith_lr_probe.py --out runs/arith-lr-probe
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alignlab.config import load_config, with_settings
from alignlab.experiment import Experiment, RunSpec
from alignlab.layout import ComparisonDir

PRESET = Path(__file__).resolve().parents[1] / "configs" / "arithmetic.yaml"
CANDIDATES = {"grpo": [3e-4, 1e-4, 3e-5], "dpo": [3e-4, 1e-4, 3e-5]}
SEED = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Directory of the probe's runs (resumable).")
    args = parser.parse_args()
    config = load_config(PRESET, ["task.num_validation_prompts=64", f"seeds=[{SEED}]"])
    methods = [{"method": method, "sweep": {"lr": rates}} for method, rates in CANDIDATES.items()]
    config = with_settings(config, {"report": {"findings": []}, "methods": methods}, "the probe")
    experiment = Experiment(config, ComparisonDir(args.out))
    runs = [RunSpec(method, (("lr", lr),), SEED, "validation") for method, rates in CANDIDATES.items() for lr in rates]
    experiment.prepare_shared(runs)
    print("method  lr       validation accuracy  KL (nats)")
    for run in runs:
        record = experiment.run_one(run)
        print(f"{run.method:<7} {dict(run.params)['lr']:<8.0e} {record['accuracy']:<20.3f} {record['kl']:.2f}")


if __name__ == "__main__":
    main()
