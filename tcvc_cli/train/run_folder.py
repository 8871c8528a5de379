"""The run folder on disk: config.json, full checkpoints (checkpoints/step-*.pt, written
atomically, the latest few kept), the exported generators colorize loads, sample grids and
the loss curve; and reading them back for --resume.

Owns: latest_checkpoint, read_run_config, save_checkpoint, restore_checkpoint, write_sample,
plot_losses. Imports: train.config, model.checkpoint, media, errors.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from .. import media
from ..errors import TrainingError
from ..model.checkpoint import save_generator
from .config import TrainConfig

CHECKPOINT_DIR = "checkpoints"


def latest_checkpoint(run_dir: Path) -> Path | None:
    files = sorted((run_dir / CHECKPOINT_DIR).glob("step-*.pt"))
    return files[-1] if files else None


def read_run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise TrainingError(f"{run_dir}: not a tcvc run folder (no config.json)", hint="pass the folder a previous `tcvc train` wrote")
    try:
        return TrainConfig.from_json(json.loads(path.read_text("utf-8")))
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"{path}: unreadable run config ({exc})") from None


def _atomic_torch_save(obj: Any, path: Path) -> None:
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    torch.save(obj, temp)
    os.replace(temp, path)


def plot_losses(run_dir: Path) -> Path | None:
    """loss.png: generator and discriminator losses and validation L1 over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text("utf-8").splitlines() if line.strip()]
    steps = [r for r in rows if r.get("type") == "step"]
    vals = [r for r in rows if r.get("val_l1") is not None and "type" not in r]
    if not steps:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("loss_g", "loss_d", "l1"):
        axes[0].plot([r["step"] for r in steps], [r[key] for r in steps], label=key, linewidth=0.8)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].legend()
    if vals:
        axes[1].plot([r["step"] for r in vals], [r["val_l1"] for r in vals], marker="o")
    axes[1].set_xlabel("step")
    axes[1].set_title("validation L1")
    figure.tight_layout()
    path = run_dir / "loss.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


class Checkpointed(Protocol):
    """What a checkpoint holds and restores: the trainer's networks, optimisers and config."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


def lineage(config: TrainConfig) -> dict[str, Any]:
    """What this model was fine-tuned from, back to the first model trained from scratch."""
    init = config.init_from
    if init is None:
        return {}
    parent = {k: init[k] for k in ("reference", "path", "sha256") if k in init}
    return {"init_from": parent, "lineage": [parent, *init.get("lineage", [])], "fine_tuned_on": config.data_dir}


def save_checkpoint(run: Checkpointed, step: int, best: float | None, val: float | None) -> Path:
    """checkpoints/step-N.pt with everything --resume needs, and generator-latest.safetensors."""
    folder = run.run_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{step:08d}.pt"
    state = {"generator": run.generator.state_dict(), "discriminator": run.discriminator.state_dict(),
             "opt_g": run.opt_g.state_dict(), "opt_d": run.opt_d.state_dict(), "scaler": run.scaler.state_dict(),
             "step": step, "best": best, "config": json.dumps(run.config.to_json()),
             "rng_torch": torch.get_rng_state(), "rng_numpy": json.dumps(np.random.get_state()[1].tolist()),
             "rng_python": json.dumps(random.getstate()[1])}
    _atomic_torch_save(state, path)
    extra = {"step": step, "val_l1": val, "run": str(run.run_dir.resolve()), **lineage(run.config)}
    save_generator(run.run_dir / "generator-latest.safetensors", run.generator, run.config.model, extra)
    for old in sorted(folder.glob("step-*.pt"))[: -run.config.keep]:
        old.unlink(missing_ok=True)
    return path


def save_best(run: Checkpointed, step: int, val: float) -> None:
    save_generator(run.run_dir / "generator-best.safetensors", run.generator, run.config.model,
                   {"step": step, "val_l1": val, **lineage(run.config)})


def restore_checkpoint(run: Checkpointed) -> tuple[int, float | None]:
    """Load the latest checkpoint into the run: (its step, its best validation L1)."""
    path = latest_checkpoint(run.run_dir)
    if path is None:
        raise TrainingError(f"{run.run_dir}: no checkpoint to resume from", hint="start a new run without --resume")
    try:
        state = torch.load(str(path), map_location=run.device, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise TrainingError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0][:160]})") from None
    saved = TrainConfig.from_json(json.loads(state["config"]))
    if saved.model != run.config.model:
        raise TrainingError(f"{path}: written for another architecture ({saved.model.arch}, ngf={saved.model.ngf}, "
                            f"blocks={saved.model.n_blocks}) than this run's", hint="resume with the run's own config.json")
    try:
        run.generator.load_state_dict(state["generator"])
        run.discriminator.load_state_dict(state["discriminator"])
    except RuntimeError as exc:
        raise TrainingError(f"{path}: weights do not fit the model ({str(exc).splitlines()[0][:160]})") from None
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_torch"].cpu())
    return int(state["step"]), state.get("best")


def write_sample(run_dir: Path, last: dict[str, torch.Tensor], step: int) -> Path:
    """samples/step-N.png: line art | condition | G's frame | truth, for up to four samples."""
    rows = []
    for i in range(min(4, last["fake"].shape[0])):
        parts = [last["line"][i].expand(3, -1, -1), last["previous"][i][:3], last["fake"][i].float(), last["target"][i]]
        rows.append(torch.cat([p.float().clamp(0, 1) for p in parts], 2))
    grid = (torch.cat(rows, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    folder = run_dir / "samples"
    folder.mkdir(exist_ok=True)
    path = folder / f"step-{step:08d}.png"
    media.write_image(path, grid)
    return path
