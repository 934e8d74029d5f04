"""Demand sensing: backtest, baselines, evaluation, policy replay and training."""

from training.demand.train import TrainConfig, train

__all__ = ["TrainConfig", "train"]
