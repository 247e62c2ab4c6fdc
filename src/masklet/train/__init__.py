"""Training and fine-tuning with the SAM 2 recipe."""

from .clip import PromptProbabilities
from .losses import LossTerms, dice_loss, mask_losses, sigmoid_focal_loss
from .trainer import ClipSampler, TrainConfig, TrainResult, train

__all__ = ["ClipSampler", "LossTerms", "PromptProbabilities", "TrainConfig", "TrainResult", "dice_loss", "mask_losses", "sigmoid_focal_loss", "train"]
