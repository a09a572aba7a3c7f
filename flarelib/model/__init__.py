"""The full-disk network, its checkpoints and its training (torchvision-like: ``forward`` returns logits)."""
from .checkpoint import CheckpointMeta, EventDefinition, load_checkpoint, model_from_checkpoint, save_checkpoint
from .network import FLARE, FullDiskAlexNet, ModelConfig, build_model
from .training import TrainConfig, cross_validate, train_fold

__all__ = ["FLARE", "FullDiskAlexNet", "ModelConfig", "build_model", "CheckpointMeta", "EventDefinition", "load_checkpoint",
           "model_from_checkpoint", "save_checkpoint", "TrainConfig", "train_fold", "cross_validate"]
