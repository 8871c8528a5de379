"""One run of colours carried along the line art's motion: without a model, or with a
motion-compensated model painting what no artist's frame explains (motion/propagate.py).

Frame by frame, in the order the pipeline delivers them: the seed frame and keyframes are
written as the artist gave them and become the shot's anchor; every other frame is carried from
the anchor (and the previous output), or held until a later keyframe arrives, coloured
backwards from it too and blended; once a keyframe has taken over, the shot's first artist's
frame is carried beside it, region by region; a scene cut starts the next shot from the seed
frame, or from the model's own painting. Progress counts a held frame half done once coloured
forwards.

Owns: CarriedRun. Imports: colorize.contract, colorize.options, colorize.output,
colorize.pipeline, colorize.references, colorize.result, motion, media, errors.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from .. import media
from ..errors import InputError
from ..motion.between import Between, blended, pick
from ..motion.ink import ink_strength
from ..motion.propagate import FLOW_SHORT_SIDE, FROM_ANCHOR, GUESSED, AnchorFrame, Carried, Propagator, Track, flow_dimensions
from .contract import Engine
from .options import Progress, work_dimensions
from .output import ResumableOutput, restore_state, save_state
from .pipeline import Pipeline, Prepared
from .references import load_reference
from .result import ColorizeResult, confidence_shares

log = logging.getLogger("tcvc")


class CarriedRun:
    """The state of one carried run: the shot's anchor, the track of the previous output, the
    frames held for a later keyframe, and what to checkpoint for --resume."""

    def __init__(self, engine: Engine, source: media.FrameSource, out: ResumableOutput, seed: np.ndarray | None,
                 keyframe_paths: dict[int, Path], work: tuple[int, int], result: ColorizeResult,
                 progress: Progress | None, cuts: set[int] | None = None):
        info = source.info
        self.engine, self.options, self.out, self.result, self.progress = engine, engine.options, out, result, progress
        self.info, self.total, self.size, self.work = info, info.frame_count, (info.width, info.height), work
        self.seed, self.keyframe_paths, self.later_keys = seed, keyframe_paths, sorted(keyframe_paths)
        # Motion is measured at the flow size even when a model paints at a smaller work size:
        # carried colours are only as right as the motion they follow.
        self.motion_size = (work if engine.model is None
                            else flow_dimensions(info.width, info.height, max(min(work), FLOW_SHORT_SIDE)))
        self.propagator = Propagator(self.size, self.motion_size, flat=self.options.upscale == "flat")
        self.painter = engine.motion_painter(work) if engine.model is not None else None
        # Progress is counted here, not as frames are written: a frame held for a later keyframe
        # is half done once coloured forwards, and done once coloured backwards too.
        self.pipeline = Pipeline(engine, source, out, self.motion_size, None, cuts)
        start = out.done
        self.units = float(start)
        saved = out.saved
        self.anchor: AnchorFrame | None = restore_state(saved, "carried_anchor", AnchorFrame)
        self.seed_anchor: AnchorFrame | None = restore_state(saved, "carried_seed", AnchorFrame)
        self.previous: Track | None = restore_state(saved, "carried_previous", Track)
        # The shot's first anchor once a keyframe has taken over, still carried along its own
        # chain: what the keyframe does not show (a shape behind another when it was drawn) comes
        # from it, region by region (motion.propagate.pick).
        self.earlier: AnchorFrame | None = restore_state(saved, "carried_earlier", AnchorFrame)
        self.earlier_track: Track | None = restore_state(saved, "carried_earlier_track", Track)
        self.earlier_index = int(saved["carried_earlier_index"]) if "carried_earlier_index" in saved else -1
        # The anchor is a model's painting of the shot's first frame, not an artist's: a keyframe replaces it.
        self.anchor_painted = bool(saved.get("carried_anchor_painted", False))
        self.seed_ink = float(saved["seed_ink_strength"]) if "seed_ink_strength" in saved else 1.0
        self.held: list[tuple[Prepared, Carried | None]] = []  # frames waiting for a later keyframe, coloured forwards
        self.previous_index = start - 1  # the frame `previous` colours
        self.checkpointed = start
        self.last_edges = out.previous_edges
        self.pages: dict[tuple[int, int], tuple[Propagator, Any]] = {}  # pages of other sizes (no feedback)
        if progress and start:
            progress(start, self.total)

    def run(self) -> None:
        with self.pipeline:
            for item in self.pipeline.frames():
                if item.line_full.shape[::-1] != self.size:
                    self.paint_page(item)
                    self.save_state(item.index + 1)
                    continue
                if item.is_cut and self.cut(item):
                    continue
                artist = self.artist_frame(item)
                if artist is not None:
                    self.restart_from(item, artist)
                else:
                    self.carry(item)
                self.last_edges = item.edges
                if not self.held:
                    self.save_state(item.index + 1)
            self.release(None, None)

    # -- the steps of one frame
    def cut(self, item: Prepared) -> bool:
        """A new shot: the held frames go out, the anchor goes back to the seed frame. True when
        the model painted the shot's first frame (nothing more to do for it)."""
        self.release(None, None)  # the next keyframe belongs to the new shot
        self.result.cuts.append(item.index)
        self.anchor, self.previous, self.anchor_painted = self.seed_anchor, None, False
        self.earlier = self.earlier_track = None
        if self.painter is not None and self.engine.cut_reset == "blank" and item.index not in self.keyframe_paths:
            self.start_shot(item)
            self.last_edges = item.edges
            self.save_state(item.index + 1)
            return True
        if self.anchor is not None and not any(k >= item.index for k in self.later_keys):
            log.warning("%s: frame %d starts a new shot without a keyframe; colours are carried from the seed frame",
                        self.info.path, item.index)
        return False

    def artist_frame(self, item: Prepared) -> np.ndarray | None:
        """The artist's own colouring of this frame (a keyframe, or the seed frame), or None."""
        if item.index in self.keyframe_paths:
            self.result.keyframes_used.append(item.index)
            return load_reference(self.keyframe_paths[item.index], self.size, "keyframe", self.options.stretch_references)
        if item.index == 0 and self.seed is not None:
            return self.seed
        return None

    def restart_from(self, item: Prepared, artist: np.ndarray) -> None:
        """An artist's frame: written as given, it anchors what follows (and ends what is held)."""
        reference = self.propagator.anchor(artist, item.line_full, item.guide)
        if item.index == 0 and self.seed is not None:
            self.seed_anchor = self.propagator.anchor(self.seed, item.line_full, item.guide)
            self.seed_ink = ink_strength(self.seed, item.line_full)
        if item.index in self.keyframe_paths:
            self.release(reference, item.index)
            if self.earlier is None and self.anchor is not None and self.previous is not None and not self.anchor_painted:
                self.earlier, self.earlier_track, self.earlier_index = self.anchor, self.previous, self.previous_index
        self.anchor, self.previous, self.previous_index = reference, self.propagator.start(reference), item.index
        self.anchor_painted = False
        self.emit(item.index, artist)

    def carry(self, item: Prepared) -> None:
        """A frame between artist's frames: held for the keyframe ahead, or carried and written."""
        upcoming = next((k for k in self.later_keys if k > item.index), None)
        if upcoming is not None and (self.options.both_ways or self.anchor is None):
            self.hold(item)
            return
        carried = self.colour_forward(item)
        if carried is None and self.painter is not None:  # no seed frame: the model starts the shot
            self.start_shot(item)
        elif carried is None:
            raise self.nothing_to_carry(item.index)
        else:
            self.emit_carried(item.index, carried)

    def colour_forward(self, item: Prepared) -> Carried | None:
        if self.anchor is None:
            return None
        feedback = self.options.feedback
        # The reader measured the flow to the frame before: it is the previous output's
        # whenever the previous output is that frame's colouring.
        follows = self.previous is not None and self.previous_index == item.index - 1 and feedback
        carried = self.propagator.carry(item.line_full, self.anchor, self.previous if feedback else None, self.painter,
                                        small_line=item.line_work, guide=item.guide, regions=item.regions,
                                        step=item.step if follows else None)
        self.previous_index = item.index
        self.previous = carried.track
        if self.earlier is None:
            return carried
        follows = self.earlier_index == item.index - 1 and feedback
        other = self.propagator.carry(item.line_full, self.earlier, self.earlier_track if feedback else None,
                                      small_line=item.line_work, guide=item.guide, regions=item.regions,
                                      step=item.step if follows else None)
        self.earlier_track, self.earlier_index = other.track, item.index
        return pick(carried, other)

    def hold(self, item: Prepared) -> None:
        forward = self.colour_forward(item)
        self.held.append((item, forward))
        self.advance(0.5 if forward is not None else 0.0)

    def release(self, keyframe: AnchorFrame | None, keyframe_index: int | None) -> None:
        """Emit the held frames, coloured backwards too from the keyframe that ends them."""
        items, forward = [item for item, _ in self.held], [ahead for _, ahead in self.held]
        backward = self.colour_backward(items, forward, keyframe)
        first = items[0].index - 1 if items else 0
        between = self.between(keyframe, forward, backward)
        for item, ahead, behind in zip(items, forward, backward):
            if ahead is not None and behind is not None:
                position = (item.index - first) / max(1, keyframe_index - first)
                frame, either = (between.frame(ahead, behind, position, item.line_work, item.guide) if between is not None
                                 else blended(ahead, behind, position))
                self.emit(item.index, frame, either, held_frame=True)
            elif ahead is not None or behind is not None:
                self.emit_carried(item.index, ahead or behind, held_frame=True)
            else:
                raise self.nothing_to_carry(item.index)
        self.held = []

    def between(self, keyframe: AnchorFrame | None, forward: list[Carried | None],
                backward: list[Carried | None]) -> Between | None:
        """What the artist's frames at both ends of the held frames tell together, when both are
        an artist's and every held frame was carried both ways."""
        if (keyframe is None or self.anchor is None or self.anchor_painted or not forward
                or any(c is None for c in (*forward, *backward))):
            return None
        return Between(self.anchor, keyframe, self.size, forward[0], backward[0])

    def colour_backward(self, items: list[Prepared], forward: list[Carried | None],
                        keyframe: AnchorFrame | None) -> list[Carried | None]:
        """The held frames carried backwards from the keyframe that ends them (when both ways)."""
        backward: list[Carried | None] = [None] * len(items)
        if keyframe is None or not self.options.both_ways:
            self.advance(sum(0.5 for ahead in forward if ahead is not None))
            return backward
        later = self.propagator.start(keyframe)
        for position in range(len(items) - 1, -1, -1):
            item = items[position]
            carried = self.propagator.carry(item.line_full, keyframe, later if self.options.feedback else None, self.painter,
                                            small_line=item.line_work, guide=item.guide, regions=item.regions)
            backward[position], later = carried, carried.track
            self.advance(0.5 if forward[position] is not None else 1.0)
        return backward

    def start_shot(self, item: Prepared) -> None:
        """The model paints a shot's first frame from its line art alone (nothing to carry from),
        and that frame anchors the shot until a keyframe arrives."""
        colour = self.propagator.paint(item.line_full, self.painter, self.seed_ink, small_line=item.line_work)
        self.anchor, self.anchor_painted = self.propagator.anchor(colour, item.line_full, item.guide), True
        self.previous, self.previous_index = self.propagator.start(self.anchor), item.index
        self.emit(item.index, colour, GUESSED)

    def paint_page(self, item: Prepared) -> None:
        """A page of its own size in a folder coloured without feedback: nothing carries onto
        it from a frame of another size, so the model paints it from its line art alone."""
        own = item.line_full.shape[1], item.line_full.shape[0]
        if own not in self.pages:
            page_work = work_dimensions(*own, self.engine.model_work_size)
            page_motion = flow_dimensions(*own, max(min(page_work), FLOW_SHORT_SIDE))
            self.pages[own] = (Propagator(own, page_motion, flat=self.options.upscale == "flat"),
                               self.engine.motion_painter(page_work))
        page, page_painter = self.pages[own]
        self.emit(item.index, page.paint(item.line_full, page_painter, self.seed_ink), GUESSED)

    # -- out to the writer
    def emit(self, index: int, frame: np.ndarray | Future, confidence: np.ndarray | float = FROM_ANCHOR,
             held_frame: bool = False) -> None:
        """A finished frame to the writer, with where its pixels came from (`confidence`, per
        pixel at the flow size or one value for the frame: FROM_ANCHOR for an artist's frame,
        GUESSED for one a model painted alone), recorded as the frame's shares."""
        self.result.confidence.append(confidence_shares(index, confidence))
        self.pipeline.send((index, frame, confidence))
        if not held_frame:  # a held frame's progress was counted as it was coloured
            self.advance(1.0)

    def emit_carried(self, index: int, carried: Carried, held_frame: bool = False) -> None:
        self.emit(index, carried.frame, carried.confidence, held_frame)  # the writer waits for its composition

    def advance(self, amount: float) -> None:
        self.units += amount
        if self.progress:
            self.progress(min(self.total, int(self.units + 1e-6)), self.total)

    def save_state(self, done: int) -> None:
        """After each segment, what --resume restores: the anchors, the track, the seed's ink."""
        segment = self.options.segment_frames
        if done // segment > self.checkpointed // segment or done == self.total:
            extra = {**save_state(self.anchor, "carried_anchor"), **save_state(self.seed_anchor, "carried_seed"),
                     **save_state(self.previous, "carried_previous"), "seed_ink_strength": np.array(self.seed_ink),
                     **save_state(self.earlier, "carried_earlier"), **save_state(self.earlier_track, "carried_earlier_track"),
                     "carried_earlier_index": np.array(self.earlier_index),
                     "carried_anchor_painted": np.array(self.anchor_painted)}
            self.pipeline.send(("checkpoint", None, self.last_edges, None, extra))
            self.checkpointed = done

    def nothing_to_carry(self, index: int) -> InputError:
        return InputError(f"{self.info.path}: frame {index} has no coloured frame to take colours from",
                          hint="pass --seed-frame, or a keyframe at or before the start of each shot")
