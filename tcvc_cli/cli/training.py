"""`tcvc train`: options parsed into a TrainConfig (a new run, a resumed one or a fine-tune),
then the trainer's events drawn as progress.

Imports: cli.app, cli.options, cli.output; train, model, lineart, runtime (inside).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
import typer.core

from ..errors import InputError, UsageError
from .app import Command, app, log, reports_errors
from .options import P_ARCH, P_FEEDBACK, P_FINETUNE, P_HARDWARE, P_LINES, P_LOSS, P_RUN, P_SCHEDULE, Device
from .output import emit, progress_bar


@app.command(cls=Command)
@reports_errors
def train(
    data: Annotated[Optional[Path], typer.Argument(metavar="DATA", help="Folder of clips: subfolders of coloured frames, or videos. Not needed with --resume.", show_default=False)] = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", "-o", metavar="FOLDER", help="Run folder. Default: runs/tcvc-<date-time>.", rich_help_panel=P_RUN)] = None,
    resume: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Continue the run in this folder from its last checkpoint. With DATA, a folder that holds no run yet is started, so one command line serves a job's first start and every requeue. Default: a new run.", rich_help_panel=P_RUN)] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", metavar="STEPS", help="Steps between checkpoints (and validations). Default: the preset's (paper 500, small 200, tiny 50).", rich_help_panel=P_RUN)] = None,
    epoch_checkpoints: Annotated[bool, typer.Option("--epoch-checkpoints/--no-epoch-checkpoints", help="Also checkpoint at every epoch's end.", rich_help_panel=P_RUN)] = True,
    sample_every: Annotated[Optional[int], typer.Option("--sample-every", metavar="STEPS", help="Steps between sample grids. Default: the preset's (paper 250, small 100, tiny 50).", rich_help_panel=P_RUN)] = None,
    keep: Annotated[Optional[int], typer.Option(metavar="N", help="Training checkpoints kept. Default: 3.", rich_help_panel=P_RUN)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout instead of text.", rich_help_panel=P_RUN)] = False,
    preset: Annotated[Literal["paper", "small", "tiny", "pix2pix"], typer.Option(help="paper (the paper's generator), small and tiny (CPUs, tests), pix2pix (the paper's U-Net baseline).", rich_help_panel=P_ARCH)] = "paper",
    arch: Annotated[Optional[Literal["resnet", "unet"]], typer.Option(help="resnet (tcvc) or unet (the pix2pix baseline). Default: the preset's.", rich_help_panel=P_ARCH)] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", metavar="PIXELS", help="Training crop size, and the size colorize runs the model at. Default: the preset's (paper 256).", rich_help_panel=P_ARCH)] = None,
    ngf: Annotated[Optional[int], typer.Option(metavar="N", help="Generator width: channels after its first conv. Default: the preset's (paper 64).", rich_help_panel=P_ARCH)] = None,
    n_blocks: Annotated[Optional[int], typer.Option("--n-blocks", metavar="N", help="Residual blocks. Default: the preset's (paper 8).", rich_help_panel=P_ARCH)] = None,
    dilation: Annotated[Optional[int], typer.Option(metavar="N", help="Dilation of each residual block's first conv. Default: the preset's (1).", rich_help_panel=P_ARCH)] = None,
    condition: Annotated[Optional[Literal["previous", "motion"]], typer.Option("--condition", help="previous: G sees the previous colour frame as it is (the paper); motion: moved onto frame t along the line art's motion, with a consistency mask (docs/motion.md). Default: the preset's (motion).", rich_help_panel=P_ARCH)] = None,
    copy_gate: Annotated[Optional[bool], typer.Option("--copy-gate/--no-copy-gate", help="Let G copy the previous frame per pixel through a learned gate. Default: the preset's (on).", show_default=False, rich_help_panel=P_ARCH)] = None,
    no_previous: Annotated[bool, typer.Option("--no-previous", help="Never condition on a previous frame (ablation).", rich_help_panel=P_ARCH)] = False,
    input_mode: Annotated[Literal["lineart", "greyscale"], typer.Option("--input-mode", help="The model's input: line art, or greyscale (the paper's second experiment).", rich_help_panel=P_LINES)] = "lineart",
    lineart_dir: Annotated[Optional[Path], typer.Option("--lineart-dir", metavar="FOLDER", help="Artists' line art, same layout as DATA. Default: line art drawn from the coloured frames.", rich_help_panel=P_LINES)] = None,
    lineart_mode: Annotated[Optional[Literal["canny", "xdog", "thinned"]], typer.Option("--lineart-mode", help="How line art is drawn from the coloured frames: canny (the paper), xdog or thinned (docs/lineart.md). Default: canny; with --init-from, the base model's.", rich_help_panel=P_LINES)] = None,
    lineart_augment: Annotated[Optional[str], typer.Option("--lineart-augment", metavar="LIST|none", help="Comma-separated augmentations of the drawn line art: width, gaps, details, paper, jpeg, scan; or none. Default: all of them (they train the model that colours artists' line art best: docs/lineart.md); none with --lineart-dir; with --init-from, the base model's.", rich_help_panel=P_LINES)] = None,
    sigma: Annotated[float, typer.Option(metavar="SIGMA", help="Gaussian blur before Canny (the paper's 1).", rich_help_panel=P_LINES)] = 1.0,
    low: Annotated[float, typer.Option(metavar="LEVEL", help="Canny low threshold.", rich_help_panel=P_LINES)] = 50.0,
    high: Annotated[float, typer.Option(metavar="LEVEL", help="Canny high threshold.", rich_help_panel=P_LINES)] = 150.0,
    epochs: Annotated[Optional[int], typer.Option(metavar="N", help="Passes over the training clips. Default: 35 (the paper); fine-tunes stop at --max-steps.", rich_help_panel=P_SCHEDULE)] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", metavar="STEPS", help="Stop after this many optimiser steps. Default: no limit (2000 for a fine-tune).", rich_help_panel=P_SCHEDULE)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", metavar="N", help="Global batch size, split across processes. Default: the preset's (paper 16, small 8, tiny 4).", rich_help_panel=P_SCHEDULE)] = None,
    lr_g: Annotated[Optional[float], typer.Option("--lr-g", metavar="RATE", help="Generator learning rate. Default: 1e-4 (the paper; 7e-4 for a fine-tune).", rich_help_panel=P_SCHEDULE)] = None,
    lr_d: Annotated[Optional[float], typer.Option("--lr-d", metavar="RATE", help="Discriminator learning rate. Default: 1e-5 (the paper; pix2pix 1e-4).", rich_help_panel=P_SCHEDULE)] = None,
    val_fraction: Annotated[Optional[float], typer.Option("--val-fraction", metavar="SHARE", help="Share of clips held out for validation. Default: 0.1.", rich_help_panel=P_SCHEDULE)] = None,
    seed: Annotated[Optional[int], typer.Option(metavar="N", help="Random seed of sampling, augmentation and initialisation. Default: 0.", rich_help_panel=P_SCHEDULE)] = None,
    deterministic: Annotated[bool, typer.Option(help="Deterministic algorithms (slower; exact resume on GPU).", rich_help_panel=P_SCHEDULE)] = False,
    vgg_weights: Annotated[str, typer.Option("--vgg-weights", metavar="imagenet|random|PATH", help="VGG-19 of the content and style losses: imagenet (torchvision's cache), a .pth path, or random (smoke tests only).", rich_help_panel=P_LOSS)] = "imagenet",
    lambda_adv: Annotated[Optional[float], typer.Option("--lambda-adv", metavar="WEIGHT", help="Weight of the adversarial loss. Default: 1 (the paper).", rich_help_panel=P_LOSS)] = None,
    lambda_content: Annotated[Optional[float], typer.Option("--lambda-content", metavar="WEIGHT", help="Weight of the VGG-19 content loss. Default: 1 (the paper; none for greyscale input or pix2pix).", rich_help_panel=P_LOSS)] = None,
    lambda_style: Annotated[Optional[float], typer.Option("--lambda-style", metavar="WEIGHT", help="Weight of the VGG-19 style (Gram matrix) loss. Default: 1000 (the paper; none for pix2pix).", rich_help_panel=P_LOSS)] = None,
    lambda_l1: Annotated[Optional[float], typer.Option("--lambda-l1", metavar="WEIGHT", help="Weight of the L1 loss against the true frame. Default: 10 (the paper).", rich_help_panel=P_LOSS)] = None,
    lambda_gate: Annotated[Optional[float], typer.Option("--lambda-gate", metavar="WEIGHT", help="Weight of the loss that teaches the copy gate where copying is right. Default: 1.", rich_help_panel=P_LOSS)] = None,
    lambda_temporal: Annotated[Optional[float], typer.Option("--lambda-temporal", metavar="WEIGHT", help="Weight of the loss that keeps G's output for a frame in step with its own output for the frame before, moved along the true motion. Default: 5.", rich_help_panel=P_LOSS)] = None,
    blank_probability: Annotated[Optional[float], typer.Option("--blank-prob", metavar="CHANCE", help="Chance of a blank previous frame. Default: 0.5 (the paper).", rich_help_panel=P_FEEDBACK)] = None,
    prev_source: Annotated[Optional[Literal["gt", "generated", "mixed"]], typer.Option("--prev-source", help="The condition in training: gt (the paper's teacher forcing), generated (G's own previous output) or mixed (scheduled). Default: generated.", rich_help_panel=P_FEEDBACK)] = None,
    unroll: Annotated[Optional[int], typer.Option(metavar="FRAMES", help="Frames G generates before t to make its own previous frame. Default: 2.", rich_help_panel=P_FEEDBACK)] = None,
    unroll_grad: Annotated[bool, typer.Option("--unroll-grad", help="Backpropagate through the unrolled frames.", rich_help_panel=P_FEEDBACK)] = False,
    mixed_ramp: Annotated[Optional[float], typer.Option("--mixed-ramp", metavar="SHARE", help="Share of training over which 'mixed' ramps to always-generated. Default: 0.5.", rich_help_panel=P_FEEDBACK)] = None,
    degrade: Annotated[Optional[float], typer.Option(metavar="CHANCE", help="Chance of blurring, noising, colour-shifting and warping the previous frame. Default: 0.5.", rich_help_panel=P_FEEDBACK)] = None,
    prev_gap: Annotated[Optional[int], typer.Option("--prev-gap", metavar="FRAMES", help="The condition's true frame lies 1 to N frames back, so G learns to drop content that moved away. Default: 8.", rich_help_panel=P_FEEDBACK)] = None,
    init_from: Annotated[Optional[str], typer.Option("--init-from", metavar="MODEL", help="Fine-tune: start from this model (a run folder, a .safetensors file or hf:ORG/REPO[/FILE][@REV]). Its architecture is kept, the optimisers start fresh, and the fine-tuning schedule applies (docs/training.md#fine-tuning). Default: train from scratch.", rich_help_panel=P_FINETUNE)] = None,
    replay: Annotated[Optional[Path], typer.Option("--replay", metavar="FOLDER", help="Earlier training data mixed into every batch while fine-tuning, so the model keeps what it knew. Default: none.", rich_help_panel=P_FINETUNE)] = None,
    replay_fraction: Annotated[Optional[float], typer.Option("--replay-fraction", metavar="SHARE", help="Share of each batch taken from --replay. Default: 0.25.", min=0.0, max=0.95, rich_help_panel=P_FINETUNE)] = None,
    replay_lineart_dir: Annotated[Optional[Path], typer.Option("--replay-lineart-dir", metavar="FOLDER", help="Artists' line art of the --replay data, same layout (as --lineart-dir is for DATA). Default: drawn from its frames.", rich_help_panel=P_FINETUNE)] = None,
    device: Annotated[Device, typer.Option(help="Where training runs.", rich_help_panel=P_HARDWARE)] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.", rich_help_panel=P_HARDWARE)] = True,
    workers: Annotated[Optional[int], typer.Option(metavar="N", help="DataLoader worker processes. Default: 2 (tiny preset: 0).", rich_help_panel=P_HARDWARE)] = None,
    threads: Annotated[Optional[int], typer.Option(metavar="N", help="CPU threads. Default: torch's choice.", rich_help_panel=P_HARDWARE)] = None,
) -> None:
    """Train a colorization model on coloured clips (the paper's adversarial training)."""
    from ..runtime import set_threads

    set_threads(threads)
    augments = None
    if lineart_augment is not None:
        augments = () if lineart_augment.strip() == "none" else tuple(a.strip() for a in lineart_augment.split(",") if a.strip())
    if replay is not None and not replay.is_dir():
        raise InputError(f"{replay}: the replay data folder does not exist")
    if replay_fraction is not None and replay is None:
        raise UsageError("--replay-fraction needs --replay OLD_DATA", hint="name the data the model was trained on")
    if resume is not None and data is not None and not (resume / "config.json").exists():
        if run_dir is not None and run_dir.resolve() != resume.resolve():
            raise UsageError("--resume and --run-dir name different folders", hint="give one of them")
        log.info("%s holds no run yet; starting it", resume)
        run_dir, resume = resume, None
    if resume is not None:
        config, target = _resumed_config(resume, data, max_steps=max_steps, epochs=epochs), resume
    else:
        if data is None:
            raise UsageError("missing DATA", hint="tcvc train FOLDER_OF_CLIPS, or --resume RUN_DIR")
        shape = {"arch": arch, "ngf": ngf, "n_blocks": n_blocks, "dilation": dilation, "condition": condition,
                 "copy_gate": copy_gate, "use_previous": False if no_previous else None}
        schedule = dict(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d,
                        val_fraction=val_fraction, checkpoint_every=checkpoint_every, sample_every=sample_every, keep=keep,
                        seed=seed, deterministic=deterministic or None, workers=workers, amp=amp,
                        checkpoint_epochs=epoch_checkpoints)
        losses = dict(lambda_adv=lambda_adv, lambda_content=lambda_content, lambda_style=lambda_style, lambda_l1=lambda_l1,
                      lambda_gate=lambda_gate, lambda_temporal=lambda_temporal, vgg_weights=vgg_weights,
                      blank_probability=blank_probability, prev_source=prev_source, unroll=unroll,
                      unroll_grad=unroll_grad or None, mixed_ramp=mixed_ramp, degrade=degrade, prev_gap=prev_gap)
        lines = dict(input_mode=input_mode, lineart_dir=lineart_dir, method=lineart_mode, augments=augments, sigma=sigma,
                     low=low, high=high, seed=seed or 0)
        replaying = dict(replay=replay, replay_fraction=replay_fraction, replay_lineart_dir=replay_lineart_dir)
        config = _new_config(preset, data, image_size, shape, schedule, losses, lines, replaying, init_from)
        target = run_dir or Path("runs") / time.strftime("tcvc-%Y%m%d-%H%M%S")
        if (target / "config.json").exists():
            raise UsageError(f"{target} already holds a run", hint=f"continue it with --resume {target}, or pick another --run-dir")
    summary = _draw_training(config, target, device, resumed=resume is not None)
    emit(summary, as_json, "\n".join(f"{k}: {v}" for k, v in summary.items()))


def _resumed_config(resume: Path, data: Path | None, **changes: int | None) -> Any:
    """The run's own config.json, with a new --max-steps or --epochs; DATA, if given, must be the run's."""
    from ..train import read_run_config

    config = replace(read_run_config(resume), **{k: v for k, v in changes.items() if v is not None})
    if data is not None and Path(config.data_dir).resolve() != data.resolve():
        raise UsageError(f"the run in {resume} trains on {config.data_dir}, not {data}", hint="leave DATA out when resuming")
    return config


def _new_config(preset: str, data: Path, image_size: int | None, shape: dict, schedule: dict, losses: dict, lines: dict,
                replaying: dict, init_from: str | None) -> Any:
    """A new run's TrainConfig from the preset and the options given; with --init-from, the base
    model's architecture and line art and the fine-tuning schedule (docs/training.md#fine-tuning)."""
    from ..train import FINETUNE, FINETUNE_REPLAY_FRACTION, train_preset

    base = None
    if init_from is not None:
        base = _fine_tuning_base(init_from)
        given = [f"--{name.replace('_', '-')}" if name != "use_previous" else "--no-previous"
                 for name, value in shape.items() if value is not None]
        if given:
            raise UsageError(f"{given[0]} cannot change a model being fine-tuned", hint="--init-from keeps the model's architecture")
    line_input = _line_input(lines, base)
    fine = dict(FINETUNE) if base is not None else {}
    replay = replaying["replay"]
    config = train_preset(
        preset, image_size=image_size, input=line_input, data_dir=str(data.resolve()), **shape, **losses,
        **{**schedule, "epochs": schedule["epochs"] if schedule["epochs"] is not None else fine.get("epochs"),
           "max_steps": schedule["max_steps"] if schedule["max_steps"] is not None else fine.get("max_steps")},
        lineart_dir=str(lines["lineart_dir"].resolve()) if lines["lineart_dir"] else None,
        replay_dir=str(replay.resolve()) if replay is not None else None,
        replay_fraction=(replaying["replay_fraction"] if replaying["replay_fraction"] is not None
                         else FINETUNE_REPLAY_FRACTION if replay is not None else None),
        replay_lineart_dir=str(replaying["replay_lineart_dir"].resolve()) if replaying["replay_lineart_dir"] else None,
    )
    if base is not None:
        unset = {k: schedule[k] for k in ("lr_g", "lr_d", "val_fraction", "checkpoint_every", "sample_every")}
        config = replace(config, model=base["config"].with_overrides(input=config.model.input, image_size=image_size),
                         init_from=base["init_from"], **{k: fine[k] for k, v in unset.items() if v is None})
    return config


def _line_input(lines: dict, base: dict | None) -> Any:
    """What the model takes as line art: drawn line art is augmented by default; artists' own
    (--lineart-dir) is taken as it is; a fine-tune keeps its base model's unless told otherwise."""
    from ..lineart import TRAINING_AUGMENT, TRAINING_METHOD, LineartParams

    modes = {"lineart": "lineart", "canny": "lineart", "greyscale": "greyscale", "grayscale": "greyscale"}
    if lines["input_mode"] not in modes:
        raise UsageError(f"unknown --input-mode {lines['input_mode']!r}", hint="use lineart or greyscale")
    mode = modes[lines["input_mode"]]
    default_augment = () if lines["lineart_dir"] is not None or mode == "greyscale" else TRAINING_AUGMENT
    if base is not None and lines["method"] is None and lines["augments"] is None and mode == "lineart":
        return base["config"].input
    return LineartParams(mode=mode, sigma=lines["sigma"], low=lines["low"], high=lines["high"],
                         method=lines["method"] or TRAINING_METHOD,
                         augment=lines["augments"] if lines["augments"] is not None else default_augment, seed=lines["seed"])


def _draw_training(config: Any, target: Path, device: str, resumed: bool) -> dict:
    """Run the trainer, drawing its events as progress and log lines; returns its summary."""
    from ..train import train as run_training

    summary: dict = {}
    total = None
    with progress_bar("train", unit="steps") as update:
        for event in run_training(config, target, device=device, resume=resumed):
            kind = event["type"]
            if kind == "preparing":
                update(0, None, note=event["what"])
            elif kind == "start":
                total = event["total_steps"]
                log.info("training on %d frames (%d held out) on %s", event["train_frames"], event["val_frames"], event["device"])
                if event["skipped_frames"]:
                    log.warning("%d unreadable frame(s) were skipped", event["skipped_frames"])
                update(event["step"], total)
            elif kind == "step":
                update(event["step"], total, note=f"G {event['loss_g']:.3f}  D {event['loss_d']:.3f}  L1 {event['l1']:.4f}  "
                                                  f"{event['samples_per_s']:.1f} samples/s")
            elif kind == "checkpoint":
                log.info("step %d: val L1 %s, checkpoint %s", event["step"], event["val_l1"], event["path"])
            elif kind == "done":
                summary = event
    summary.pop("type", None)
    return summary


def _fine_tuning_base(reference: str) -> dict:
    """The model a fine-tune starts from: its config, and the record the run keeps of it."""
    from ..model.checkpoint import read_metadata, resolve_model, sha256_of

    path = resolve_model(reference)
    config, extra = read_metadata(path)
    record = {"reference": reference, "path": str(path.resolve()), "sha256": sha256_of(path),
              "lineage": list(extra.get("lineage", []))}
    return {"config": config, "init_from": record}
