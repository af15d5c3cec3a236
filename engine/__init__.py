"""Image-to-image translation engine: pix2pix, CycleGAN and colorization, training and inference
(and the 1-D "Why cGAN?" toy).

The public API the app and users call; everything else in the package is an implementation detail.
Names are imported on first use, so `import engine` stays cheap.
"""
from importlib import import_module

_PUBLIC = {
    "CheckpointError": "checkpoint", "import_official": "checkpoint", "load_model": "checkpoint",
    "save_model": "checkpoint",
    "ModelConfig": "config", "TrainConfig": "config",
    "Translator": "inference",
    "define_D": "networks", "define_G": "networks", "discriminator_name": "networks", "receptive_field": "networks",
    "ToyConfig": "toy", "ToyResult": "toy", "toy_colors": "toy", "toy_preset": "toy", "train_toy": "toy",
    "Trainer": "trainer", "TrainingError": "trainer", "train": "trainer",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value
