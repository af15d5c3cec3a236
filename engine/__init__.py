"""Image-to-image translation engine: pix2pix, CycleGAN and colorization, training and inference.

The public API the app and users call; everything else in the package is an implementation detail.
"""
from .checkpoint import CheckpointError, import_official, load_model, save_model
from .config import ModelConfig, TrainConfig
from .inference import Translator
from .networks import define_D, define_G, discriminator_name, receptive_field
from .trainer import Trainer, TrainingError, train

__all__ = [
    "CheckpointError", "ModelConfig", "TrainConfig", "Trainer", "TrainingError", "Translator",
    "define_D", "define_G", "discriminator_name", "import_official", "load_model", "receptive_field",
    "save_model", "train",
]
