"""The plain-condition model's loop: each frame coloured by the generator from its line art and
the previous output (the paper's feedback loop), the seed frame or a keyframe restarting it.

Owns: run_plain. Imports: colorize.contract, colorize.options, colorize.output,
colorize.pipeline, colorize.references, colorize.result, media.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import media
from ..motion.propagate import FROM_ANCHOR, GUESSED
from .contract import Engine
from .options import Anchor, Progress, anchor_condition
from .output import ResumableOutput
from .pipeline import Pipeline
from .references import load_reference
from .result import ColorizeResult, confidence_shares


def run_plain(engine: Engine, source: media.FrameSource, out: ResumableOutput, seed_work: np.ndarray | None,
              keyframe_paths: dict[int, Path], work: tuple[int, int], result: ColorizeResult,
              progress: Progress | None, cuts: set[int] | None = None) -> None:
    """Colour a video through the plain-condition feedback loop: the previous output, the seed
    frame at the start and at cuts, keyframes as given, the condition anchored to the shot's
    artist frame where the line art has not changed (docs/feedback.md)."""
    info = source.info
    total = info.frame_count
    start = out.done
    blank = torch.zeros(1, 3, work[1], work[0], device=engine.device, dtype=engine.dtype)
    reset = engine.to_tensor(seed_work) if seed_work is not None else blank
    cut_reset = reset if engine.cut_reset == "seed" else blank
    condition = torch.from_numpy(out.state).to(engine.device, engine.dtype) if out.state is not None else reset
    anchoring = engine.options.feedback and engine.options.anchor > 0
    radius = engine.options.anchor_radius if engine.options.anchor_radius is not None else max(1, round(min(work) / 32))
    anchor = (Anchor(*(torch.from_numpy(a).to(engine.device, engine.dtype) for a in out.anchor))
              if out.anchor is not None and anchoring else None)
    if progress and start:
        progress(start, total)
    last_edges = out.previous_edges
    with Pipeline(engine, source, out, work, progress, cuts) as pipeline:
        for item in pipeline.frames():
            if item.is_cut:
                result.cuts.append(item.index)
                condition = cut_reset
                anchor = None  # the seed belongs to another shot
            if not engine.options.feedback:
                condition = reset
                if condition.shape[-2:] != item.line_work.shape:  # a page of another size
                    condition = F.interpolate(condition, size=item.line_work.shape, mode="area")
            line = engine.to_tensor(item.line_work)
            keyframe = None
            if item.index in keyframe_paths:
                keyframe = load_reference(keyframe_paths[item.index], (info.width, info.height), "keyframe",
                                          engine.options.stretch_references)
                result.keyframes_used.append(item.index)
                predicted = engine.to_tensor(media.resize(keyframe, work, cv2.INTER_AREA))
                anchor = Anchor(predicted, line) if anchoring else None
            else:
                if item.index == 0 and seed_work is not None and anchoring:
                    anchor = Anchor(reset, line)  # the seed frame is the colouring of frame 0
                if anchor is not None:
                    condition = anchor_condition(condition, line, anchor, radius, engine.options.anchor)
                predicted = engine.forward(line, condition)
            colour = predicted[0].permute(1, 2, 0).float().cpu().numpy()
            pipeline.send((item.index, colour, item.line_full, keyframe))
            result.confidence.append(confidence_shares(item.index, FROM_ANCHOR if keyframe is not None else GUESSED))
            condition = predicted
            last_edges = item.edges
            done = item.index + 1
            if done % engine.options.segment_frames == 0 or done == total:
                state = condition.float().cpu().numpy() if engine.options.feedback else None
                saved_anchor = (anchor.colour.float().cpu().numpy(), anchor.line.float().cpu().numpy()) if anchor is not None else None
                pipeline.send(("checkpoint", state, last_edges, saved_anchor))
