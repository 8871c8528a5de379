"""The colorization engine: line-art frames in, colour frames out, through the feedback loop.

For each frame t the generator sees the line art of t and a condition: the colour frame it
produced for t-1 (the paper's feedback loop), the seed frame at the start of the video and
at each scene cut, or an artist's keyframe. Where the line art has not changed since the
seed frame (or the latest keyframe) of the shot, the condition is pulled back to that coloured
frame, so what the artist coloured does not wash out as it is fed back (anchoring, on by
default; docs/feedback.md). The model runs at a small work size; the colour
is brought back to the source resolution and the source's own full-resolution lines are
drawn over it, so cost barely depends on the source resolution. Model-free colouring and
motion-compensated models carry colours along the line art's motion instead (carried.py).

Frames stream through three stages that overlap (pipeline.py): a reader thread decodes and
prepares line art, the calling thread runs the model, a writer thread upscales and encodes.
Memory holds a few frames whatever the video's length. Output goes to a hidden work folder in
segments with the loop's state saved after each one (output.py), so `resume=True` continues
an interrupted run and produces the same frames as an uninterrupted one.

Owns: Colorizer. Imports: the other colorize modules, model, motion, media, lineart, runtime,
errors.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import media
from ..errors import TcvcError, UsageError, interruption
from ..lineart import extract as lineart_of, to_grey
from ..media.editorial import read_shots
from ..media.images import describe_image
from ..media.sequence import is_pattern
from ..model.checkpoint import LoadedModel
from ..motion.propagate import flow_dimensions
from ..runtime import prepare_for_inference, select_device
from .carried import CarriedRun
from .options import ColorizeOptions, Delivery, Progress, Suggest, work_dimensions
from .output import ResumableOutput
from .plain import run_plain
from .references import check_reference_size, file_digest, find_keyframes, load_reference
from .result import ColorizeResult, warn_unexplained
from .suggest import suggest_for_run, write_to_paint

log = logging.getLogger("tcvc")


@dataclass
class _Job:
    """One colouring run, planned: what the shot loop is given."""

    source_path: Path
    output: Path
    info: media.SourceInfo
    numbers: list[int]  # the input's frame numbers (a video's are its indices)
    shot_list: list | None
    work: tuple[int, int]
    seed_frame: Path | None
    seed_full: np.ndarray | None
    keyframe_paths: dict[int, Path]
    cuts: set[int] | None


class Colorizer:
    """A loaded model on its device, ready to colour videos one after another."""

    def __init__(self, loaded: LoadedModel | None, options: ColorizeOptions = ColorizeOptions()):
        """`loaded=None`: model-free colouring, colours carried from the seed frame and keyframes
        along the motion of the line art (tcvc_cli/propagate.py)."""
        self.loaded = loaded
        self.config = loaded.config if loaded is not None else None
        self.options = options
        self.device = select_device(options.device)
        self.half = options.half and self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32
        self.model = prepare_for_inference(loaded.model, self.device, self.half) if loaded is not None else None
        self.is_lineart = self.config is None or self.config.input.mode == "lineart"
        # Model-free colouring and motion-compensated models carry colours along the line art's motion.
        self.carries_motion = self.config is None or self.config.condition == "motion"
        if options.upscale == "flat" and not self.is_lineart:
            raise UsageError("--upscale flat needs a line-art model; this checkpoint takes greyscale input",
                             hint="use --upscale bicubic")
        if options.from_color and self.config is None:
            raise UsageError("--from-color needs a model", hint="pass --model, or colour the line art itself")
        if options.cut_reset == "blank" and self.config is None:
            raise UsageError("--cut-reset blank needs a model: without one a new shot takes its colours from the seed "
                             "frame or a keyframe", hint="pass --model, or a keyframe at the start of each shot")
        self.cut_reset = options.cut_reset if options.cut_reset != "auto" else "blank" if self.carries_motion and loaded else "seed"

    @property
    def model_work_size(self) -> int | None:
        """The short side the model runs at (None: the source's own)."""
        size = self.options.work_size if self.options.work_size is not None else self.config.image_size
        return size or None

    @property
    def kind(self) -> str:
        return "model-free" if self.config is None else "motion-compensated model" if self.carries_motion else "model"

    # -- one frame through the network
    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        if not image.flags.writeable:  # frames straight from the decoder's buffer
            image = image.copy()
        tensor = torch.from_numpy(image).to(self.device, non_blocking=True)
        tensor = tensor.permute(2, 0, 1).unsqueeze(0) if tensor.dim() == 3 else tensor[None, None]
        return tensor.to(self.dtype) / 255.0

    def forward(self, line: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        height, width = line.shape[-2:]
        multiple = self.config.size_multiple
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            line = F.pad(line, (0, pad_w, 0, pad_h), mode=mode)
            condition = F.pad(condition, (0, pad_w, 0, pad_h), mode=mode)
        if self.device.type == "cuda":
            line = line.contiguous(memory_format=torch.channels_last)
            condition = condition.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(line, condition)
        return out[:, :, :height, :width]

    def line_of(self, frame: np.ndarray) -> np.ndarray:
        if self.options.from_color:  # the model's line art, without its training augmentations
            return lineart_of(frame, replace(self.config.input, augment=()))
        return to_grey(frame)  # already grey when decoded as such; folders of RGB line art too

    # -- a whole video
    def colorize(self, source_path: Path, output: Path, *, seed_frame: Path | None = None, keyframes: Path | None = None,
                 resume: bool = False, overwrite: bool = False, encode: media.EncodeOptions = media.EncodeOptions(),
                 progress: Progress | None = None, delivery: Delivery = Delivery(),
                 shots: Path | None = None, suggest: Suggest = Suggest()) -> ColorizeResult:
        """Colour `source_path` into `output`. `shots`: an editorial shot list (editorial.py) whose
        cuts replace detected ones. `suggest`: name the frames of each shot to paint next
        (suggest.py), and write their line art for painting."""
        source_path, output = Path(source_path), Path(output)
        if media.is_video_path(output) or not is_pattern(output):
            media.check_output(output, [source_path], overwrite=True)  # same-as-input check; existence handled below
        started = time.perf_counter()
        # Line art needs one channel: ffmpeg converts, and a third of the bytes cross the pipe.
        # Without feedback each frame stands alone, so a folder of pages may mix sizes (model colouring).
        pages = not self.options.feedback and self.config is not None and not media.is_video_path(output)
        with media.open_source(source_path, grey=not self.options.from_color, mixed_sizes=pages,
                               fill_gaps=delivery.fill_gaps, keep_alpha=True) as source:
            job = self._plan(source, source_path, output, seed_frame, keyframes, shots, delivery)
            out = ResumableOutput(output, source.info, fingerprint=self._fingerprint(job, encode, delivery), resume=resume,
                                  overwrite=overwrite, encode=encode, layers=delivery.layers,
                                  start_number=delivery.start_number, bits=delivery.bits, keep_alpha=delivery.keep_alpha)
            result = ColorizeResult(input=str(source_path), output=str(output), frames=source.info.frame_count,
                                    frame_rate=f"{source.info.fps.numerator}/{source.info.fps.denominator}",
                                    work_size=job.work, resumed_from=out.done, device=str(self.device),
                                    colouring=self.kind, outputs=out.outputs,
                                    shots_from=str(shots) if shots is not None else "detected" if self.options.scene_detect else "none")
            result.seed_frame = str(seed_frame) if seed_frame is not None else None
            numbers = out.numbers or job.numbers
            result.first_frame, result.last_frame = numbers[0], numbers[-1]
            self._run_saving(job, source, out, result, progress)
        result.seconds = time.perf_counter() - started
        result.name_shots(job.numbers, job.shot_list)
        if suggest.count:
            self._suggest(job, result, suggest)
            result.suggest_seconds = time.perf_counter() - started - result.seconds
        # Reported in the input's own frame numbers (a video's are its indices).
        result.cuts = [job.numbers[index] for index in result.cuts]
        result.keyframes_used = [job.numbers[index] for index in result.keyframes_used]
        for shares in result.confidence:
            shares["frame"] = job.numbers[shares["frame"]]
        warn_unexplained(source_path, result)
        return result

    def _plan(self, source: media.FrameSource, source_path: Path, output: Path, seed_frame: Path | None, keyframes: Path | None,
              shots: Path | None, delivery: Delivery) -> _Job:
        """What the run needs before its first frame: shots, work size, the artist's frames (a
        wrong file is refused now, not when its frame comes)."""
        info = source.info
        numbers = info.numbers or list(range(info.frame_count))
        rate_known = info.is_video or bool(info.extra.get("frames_json", {}).get("fps"))
        shot_list = (read_shots(shots, fps=info.fps, first_number=numbers[0], frame_count=info.frame_count,
                                rate_known=rate_known) if shots is not None else None)
        if self.config is None:
            if seed_frame is None and keyframes is None:
                raise UsageError("colouring without a model needs a coloured frame to start from",
                                 hint="pass --seed-frame (the coloured first frame) or --keyframes (a folder of "
                                      "coloured frames), or --model to colour with a trained model")
            work = flow_dimensions(info.width, info.height, self.options.work_size or None)
        else:
            work = work_dimensions(info.width, info.height, self.model_work_size)
        # Warn about a seed whose size differs from the video's; the step down to the work size is expected.
        seed_full = load_reference(seed_frame, (info.width, info.height), "seed frame",
                                   self.options.stretch_references) if seed_frame else None
        keyframe_paths = find_keyframes(keyframes, info, shot_list) if keyframes else {}
        for path in keyframe_paths.values():
            described = describe_image(path)
            check_reference_size(path, (described["width"], described["height"]), (info.width, info.height),
                                 "keyframe", self.options.stretch_references)
        cuts = {shot.first for shot in shot_list if shot.first > 0} if shot_list is not None else None
        return _Job(source_path, output, info, numbers, shot_list, work, seed_frame, seed_full, keyframe_paths, cuts)

    def _suggest(self, job: _Job, result: ColorizeResult, suggest: Suggest) -> None:
        """Fill result.suggested_keyframes (and the --to-paint folder) from the line art's motion."""
        index_of = {number: index for index, number in enumerate(job.numbers)}
        shots = [(shot["name"], index_of[shot["first_frame"]], index_of[shot["last_frame"]] + 1) for shot in result.shot_ranges]
        anchors = sorted({*job.keyframe_paths, *([0] if job.seed_full is not None else [])})
        line_of = self.line_of if self.options.from_color else None
        found = suggest_for_run(job.source_path, shots, anchors, suggest.count, method=suggest.method,
                                both_ways=self.options.both_ways, grey=not self.options.from_color, line_of=line_of,
                                budget=result.seconds)
        if suggest.to_paint is not None:
            chosen = [index for shot in found for index in shot["frames"]]
            write_to_paint(suggest.to_paint, job.source_path, chosen, job.keyframe_paths, job.info,
                           grey=not self.options.from_color, line_of=line_of)
            result.to_paint = str(suggest.to_paint)
        for shot in found:
            shot["frames"] = sorted(job.numbers[index] for index in shot["frames"])
        result.suggested_keyframes = found

    def _fingerprint(self, job: _Job, encode: media.EncodeOptions, delivery: Delivery) -> dict:
        """What must match for --resume to continue a run: input, model, options, artist's frames."""
        fingerprint = {
            "input": str(job.source_path.resolve()),
            "frames": job.info.frame_count, "size": [job.info.width, job.info.height],
            "model": self.loaded.sha256 if self.loaded is not None else None,
            "options": {k: v for k, v in asdict(self.options).items() if k not in ("device",)},
            "seed": file_digest(job.seed_frame),
            "keyframes": {str(i): file_digest(p) for i, p in sorted(job.keyframe_paths.items())},
            "encode": asdict(encode), "half": self.half, "delivery": asdict(delivery),
            "cuts": sorted(job.cuts) if job.cuts is not None else None,
        }
        return json.loads(json.dumps(fingerprint))  # as the manifest will hold it (tuples become lists)

    def _run_saving(self, job: _Job, source: media.FrameSource, out: ResumableOutput, result: ColorizeResult,
                    progress: Progress | None) -> None:
        """The shot loop, then publish; on a failure or Ctrl-C keep what --resume can use and say where."""
        total = source.info.frame_count
        try:
            if self.carries_motion:
                CarriedRun(self, source, out, job.seed_full, job.keyframe_paths, job.work, result, progress, job.cuts).run()
            else:
                seed_work = media.resize(job.seed_full, job.work, cv2.INTER_AREA) if job.seed_full is not None else None
                run_plain(self, source, out, seed_work, job.keyframe_paths, job.work, result, progress, job.cuts)
            out.commit()
        except KeyboardInterrupt as stop:
            if out.abort() is None:
                raise interruption(stop, f"{job.output}: stopped before any frame was saved; nothing is left behind",
                                   hint="run the same command again to start over") from None
            raise interruption(stop, f"{job.output}: stopped; {out.done} of {total} frames are saved for --resume "
                                     f"in {out.work}", hint="run the same command with --resume to continue where it stopped") from None
        except TcvcError as error:
            kept = out.abort()
            if kept is not None:
                saved = f"{out.done} of {total} frames are kept in {kept} for --resume"
                error.hint = f"{error.hint}; {saved}" if error.hint else saved
            raise
        except BaseException:
            kept = out.abort()
            if kept is not None:
                log.warning("%s: %d of %d frames are kept in %s for --resume", job.output, out.done, total, kept)
            raise

    def motion_painter(self, work: tuple[int, int]):
        """The motion-compensated generator as propagate.py's painter: it sees the line art and
        the carried colours with the mask of where motion explains them, and paints every pixel
        the motion does not explain. (Leaving the pixels of partly explained regions to the
        region fill instead measured 0.1 to 1.2 dB worse on each benchmark clip: docs/motion.md.)"""

        def paint(line: np.ndarray, carried: np.ndarray, explained: np.ndarray) -> np.ndarray:
            motion_size = line.shape[1], line.shape[0]
            mask = explained.astype(np.uint8) * 255
            if motion_size != work:  # the model paints at its own work size
                line, carried = media.resize(line, work, cv2.INTER_AREA), media.resize(carried, work, cv2.INTER_AREA)
                mask = np.where(media.resize(mask, work, cv2.INTER_AREA) >= 128, 255, 0).astype(np.uint8)
            condition = torch.cat([self.to_tensor(carried), self.to_tensor(mask)], 1)
            predicted = self.forward(self.to_tensor(line), condition)
            painted = (predicted[0].permute(1, 2, 0).float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            return painted if motion_size == work else cv2.resize(painted, motion_size, interpolation=cv2.INTER_CUBIC)

        return paint
