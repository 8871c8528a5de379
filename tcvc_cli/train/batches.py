"""The data a training run reads: clips loaded into the cache (rank 0 first, the others after),
split into training and validation, the datasets that cut samples from them, and the sampler
and loader that draw each epoch's batches (fine-tuning mixes new frames with replayed ones).

Owns: TrainingData, training_data. Imports: train.config, train.distributed, model.data, errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..errors import TrainingError, UsageError
from ..model.data import EpochBatches, MixedBatches, SequenceDataset, load_clips, split_clips
from .config import TrainConfig
from .distributed import Dist


@dataclass
class TrainingData:
    train_set: SequenceDataset
    val_set: SequenceDataset | None
    sampler: EpochBatches | MixedBatches
    loader: DataLoader
    steps_per_epoch: int
    total_steps: int
    skipped_frames: int


def training_data(config: TrainConfig, run_dir: Path, dist: Dist, batch_per_rank: int, cuda: bool,
                  worker_init: Callable[[int], None]) -> TrainingData:
    cache = run_dir / "cache"
    size = config.model.image_size
    lineart_dir = Path(config.lineart_dir) if config.lineart_dir else None
    if dist.is_main:
        clips = load_clips(Path(config.data_dir), cache, size, config.model.input, lineart_dir)
    if dist.enabled:
        torch.distributed.barrier()  # rank 0 prepared the cache; the others read it
    if not dist.is_main:
        clips = load_clips(Path(config.data_dir), cache, size, config.model.input, lineart_dir)
    train_clips, val_clips = split_clips(clips, config.val_fraction)
    new_frames = sum(len(c) for c in train_clips)
    if config.replay_dir:
        replayed = load_clips(Path(config.replay_dir), cache / "replay", size, config.model.input,
                              Path(config.replay_lineart_dir) if config.replay_lineart_dir else None)
        train_clips = train_clips + replayed
    for clip in clips:
        if min(clip.colour.shape[1:3]) < size:
            raise TrainingError(f"{clip.name}: frames smaller than the training size {size}")
    history = config.unroll if config.prev_source != "gt" and config.model.use_previous else 0
    line_motion = config.model.condition == "motion" and config.model.use_previous
    train_set = SequenceDataset(train_clips, size, config.blank_probability, train=True, seed=config.seed, history=history,
                                max_gap=config.prev_gap, motion=config.lambda_temporal > 0, line_motion=line_motion)
    val_set = SequenceDataset(val_clips, size, train=False, seed=config.seed, line_motion=line_motion) if val_clips else None
    sampler, steps_per_epoch = _sampler(config, len(train_set), new_frames, dist, batch_per_rank)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    # One loader for the whole run: its worker processes stay up from epoch to epoch.
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=config.workers, pin_memory=cuda,
                        persistent_workers=config.workers > 0, worker_init_fn=worker_init if config.workers > 0 else None)
    return TrainingData(train_set, val_set, sampler, loader, steps_per_epoch, total_steps, sum(c.skipped for c in clips))


def _sampler(config: TrainConfig, frames: int, new_frames: int, dist: Dist,
             batch_per_rank: int) -> tuple[EpochBatches | MixedBatches, int]:
    """Each epoch's batches for this rank, and how many steps an epoch has."""
    if config.init_from is None and not config.replay_dir:
        steps_per_epoch = frames // dist.world // batch_per_rank
        if steps_per_epoch == 0:
            raise TrainingError(f"{frames} training frames cannot fill one batch of {config.batch_size}",
                                hint="add frames or lower --batch-size")
        return EpochBatches(frames, batch_per_rank, steps_per_epoch, dist.rank, dist.world, config.seed), steps_per_epoch
    # Fine-tuning: a few corrected frames still fill batches; replayed items join each batch.
    replay = round(config.replay_fraction * batch_per_rank) if config.replay_dir else 0
    if config.replay_dir and config.replay_fraction > 0 and replay == 0:
        replay = 1
    fresh = batch_per_rank - replay
    if fresh < 1:
        raise UsageError(f"--replay-fraction {config.replay_fraction} leaves no room for new frames in a batch of "
                         f"{batch_per_rank}", hint="lower --replay-fraction or raise --batch-size")
    steps_per_epoch = max(1, math.ceil(new_frames / (fresh * dist.world)))
    sampler = MixedBatches(new_frames, frames - new_frames, batch_per_rank, replay, steps_per_epoch, dist.rank,
                           dist.world, config.seed)
    return sampler, steps_per_epoch
