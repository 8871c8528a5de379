"""Train: the paper's conditional GAN with temporal conditioning, resumable and DDP-ready.

Modules, each importing only those above it (and the parts: `model`, `motion`, `media`,
`lineart`, `runtime`, `errors`):
- `config`: TrainConfig and the presets, as config.json holds them;
- `distributed`: the torchrun process group and each rank's place in it;
- `objective`: the condition G sees and the losses of one step;
- `run_folder`: checkpoints, exported generators, samples and the loss curve on disk;
- `trainer`: Trainer, whose loop reads batches, steps, checkpoints; `train()` yields its events.

docs/architecture.md follows one batch through these modules.
"""

from __future__ import annotations

from .config import FINETUNE, FINETUNE_REPLAY_FRACTION, PREV_SOURCES, TRAIN_PRESETS, TrainConfig, train_preset
from .distributed import Dist, init_distributed
from .objective import Condition, OwnOutput, degrade, gate_loss, weights_init
from .run_folder import CHECKPOINT_DIR, latest_checkpoint, plot_losses, read_run_config
from .trainer import Trainer, train

__all__ = [
    'FINETUNE', 'FINETUNE_REPLAY_FRACTION', 'PREV_SOURCES', 'TRAIN_PRESETS', 'TrainConfig', 'train_preset',
    'Dist', 'init_distributed', 'Condition', 'OwnOutput', 'degrade', 'gate_loss', 'weights_init',
    'CHECKPOINT_DIR', 'latest_checkpoint', 'plot_losses', 'read_run_config', 'Trainer', 'train'
]
