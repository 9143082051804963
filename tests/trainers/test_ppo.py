"""PPO: the critic's set-up, the scorer, and learning on the gold reward."""

from __future__ import annotations

import json
import math

import pytest
import torch

from alignlab.batch import collate
from alignlab.layout import TrainingDir
from alignlab.models import (
    load_causal_lm,
    load_policy,
    load_reward_model,
    load_reward_normalization,
    load_tokenizer,
    resolve_model_path,
)
from alignlab.reward_model import TrainingReward
from alignlab.rollout import Rollout
from alignlab.scoring import causal_lm_parts, classifier_parts, sequence_scores
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train
from alignlab.trainers.ppo import build_actor_critic


def test_separate_critic_starts_as_the_normalised_reward_model(embedded_dir, reward_model_dir, make_config) -> None:
    config, cpu = make_config(), torch.device("cpu")
    model = build_actor_critic(config, cpu, str(reward_model_dir), None, load_policy(config.model, cpu))
    reward_model = load_reward_model(config.model, cpu, str(reward_model_dir))
    mean, std = load_reward_normalization(reward_model_dir)
    tokenizer = load_tokenizer(config.model)
    prompts = [tokenizer("I watched it")["input_ids"], tokenizer("The story")["input_ids"]]
    responses = [[40, 41, 42, 43], [44, 45]]
    with torch.no_grad():
        values = model(collate(prompts, responses, tokenizer.pad_token_id)).values
        # The value of response position t is the standardised reward-model score of the prefix
        # the policy has seen before emitting token t: the prompt and response[:t].
        for row, (prompt, response) in enumerate(zip(prompts, responses)):
            for t in range(len(response)):
                prefix = collate([prompt], [response[:t]], tokenizer.pad_token_id)
                standardised = (sequence_scores(reward_model, prefix) - mean) / std
                assert float(values[row, t]) == pytest.approx(float(standardised), abs=1e-5)
    assert float(values[1, 2:].abs().sum()) == 0.0  # padding has no value


def test_ppo_gt_critic_starts_at_zero(embedded_dir, make_config) -> None:
    config, cpu = make_config(), torch.device("cpu")
    model = build_actor_critic(config, cpu, None, None, load_policy(config.model, cpu))
    assert model.critic.score.weight.abs().max() == 0 and model.critic.score.bias.abs().max() == 0


def test_a_reward_model_with_another_tokenizer_leaves_the_critic_to_the_policys_base(
    embedded_dir, make_config, alignlab_log
) -> None:
    """The critic reads the policy's token ids; embedded-zh's tokenizer gives the same ids to
    other tokens, so a critic started from a reward model on it would read other words."""
    config, cpu = make_config(), torch.device("cpu")
    foreign = resolve_model_path("embedded-zh")
    model = build_actor_critic(config, cpu, foreign, None, load_policy(config.model, cpu))
    critic_trunk, head = classifier_parts(model.critic)
    policy_trunk, _ = causal_lm_parts(load_causal_lm(config.model, cpu, trainable=False))
    assert critic_trunk.state_dict().keys() == policy_trunk.state_dict().keys()
    assert all(torch.equal(w, policy_trunk.state_dict()[name]) for name, w in critic_trunk.state_dict().items())
    assert head.weight.abs().max() == 0 and head.bias.abs().max() == 0
    assert "the reward model has a tokenizer of its own" in alignlab_log.text


def test_missing_eos_penalty(embedded_dir, make_config) -> None:
    config = make_config("ppo.reward_source=gold", "ppo.missing_eos_penalty=-1.0")
    gold = lambda prompts, texts: [0.5] * len(texts)  # noqa: E731
    scorer = TrainingReward(config, config.ppo, gold, torch.device("cpu"), None, load_tokenizer(config.model))
    ones = torch.ones(2, 3, dtype=torch.long)
    rollout = Rollout(ones, ones, ones, ones, torch.tensor([True, False]))
    score, gold_values = scorer(rollout, ["a", "b"], ["x", "y"])
    assert score.tolist() == [0.5, -0.5] and gold_values.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("settings", [["ppo.critic=shared"], ["ppo.adaptive_kl=true", "ppo.target_kl=0.01"]])
def test_ppo_variants_run_on_the_reward_model(embedded_dir, reward_model_dir, make_config, tmp_path, settings) -> None:
    config = make_config("ppo.iterations=2", "ppo.prompts_per_iteration=16", "ppo.batch_size=16", *settings)
    task = load_task(config.task)
    inputs = TrainInputs(
        "ppo", config, prompts=task.train_prompts, gold_reward=task.reward, reward_model=str(reward_model_dir)
    )
    summary = train(inputs, TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert len(history) == 2 and all(math.isfinite(v) for row in history for v in row.values())
    if "ppo.adaptive_kl=true" in settings:
        assert history[1]["objective/kl_coef"] != history[0]["objective/kl_coef"]
    assert summary["cost"]["models_in_memory"] == (3 if "ppo.critic=shared" in settings else 4)
