"""Training data: clips of colour frames -> (line art t, previous colour t-1, colour t) samples.

DATA is a folder of clips: each subfolder a sequence of numbered frames (what `tcvc extract`
writes) or a video file. Frames are prepared once per run and cached as memory-mapped
arrays: colour scaled so its short side is the training size (aspect kept), and the model's
input derived at full resolution (Canny line art, greyscale, or the artists' real line art
from --lineart-dir) then scaled the same way - exactly what colorize does at inference.
Samples are square random crops of that (centre crops for validation), so no frame is
squashed and the whole width is used over an epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .. import media
from ..errors import InputError, TcvcError, TrainingError
from ..lineart import LineartParams, extract as lineart_of, gap_radius, line_regions
from ..media.sequence import frame_number
from ..motion import FlowField, LineMotion, occlusion_mask, warp
from ..motion.shots import analysis_view, detector_for

log = logging.getLogger("tcvc")


@dataclass
class Clip:
    """A prepared clip: arrays on disk, and which frames start a shot."""

    name: str
    colour: np.ndarray  # (N, H, W, 3) uint8, memory-mapped
    line: np.ndarray  # (N, H, W) uint8
    shot_start: np.ndarray  # (N,) bool: no usable previous frame (clip start, cut, skipped frame before)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.colour)


def find_clips(data_dir: Path) -> list[Path]:
    """Subfolders holding frames and video files, sorted by name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainingError(f"{data_dir}: the training data folder does not exist")
    clips = []
    if media.list_frames(data_dir):
        clips.append(data_dir)  # a single clip given directly
    for entry in sorted(data_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and media.list_frames(entry):
            clips.append(entry)
        elif entry.is_file() and media.is_video_path(entry):
            clips.append(entry)
    if not clips:
        raise TrainingError(f"{data_dir}: no clips found (subfolders of numbered frames, or video files)",
                            hint="run `tcvc extract VIDEOS -o DATA` first, or put coloured episodes in DATA")
    return clips


def _scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    scale = short_side / min(width, height)
    return max(short_side, round(width * scale)), max(short_side, round(height * scale))


def _frames_of(path: Path):
    """(index, frame or None if unreadable, name, follows) for a frame folder or a video.

    `follows` is False for a frame whose number does not follow the one before it: a folder of
    single corrected frames (1012, 1030, 1077) holds no sequence, and each frame stands alone."""
    if path.is_dir():
        previous = None
        for index, file in enumerate(media.list_frames(path)):
            number = frame_number(file)
            follows = number is None or previous is None or number == previous + 1
            previous = number
            try:
                yield index, media.read_image(file), file.name, follows
            except InputError:
                yield index, None, file.name, follows
    else:
        with media.open_source(path) as source:
            for index, frame in enumerate(source):
                yield index, frame, f"frame {index}", index > 0


def prepare_clip(path: Path, cache_dir: Path, size: int, params: LineartParams, lineart_path: Path | None = None) -> Clip:
    """Decode, derive line art, scale and cache one clip (reused when nothing changed)."""
    stat = path.stat()
    key_source = json.dumps({"path": str(path.resolve()), "mtime": stat.st_mtime, "size": size, "params": params.to_json(),
                             "lineart": str(lineart_path.resolve()) if lineart_path else None, "v": 4}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    target = cache_dir / f"{path.stem}-{key}"
    if (target / "done.json").is_file():
        meta = json.loads((target / "done.json").read_text())
        return Clip(meta["name"], np.load(target / "colour.npy", mmap_mode="r"), np.load(target / "line.npy", mmap_mode="r"),
                    np.load(target / "shot_start.npy"), meta["skipped"])

    line_frames = media.list_frames(lineart_path) if lineart_path else None
    colours, lines, starts, skipped = [], [], [], 0
    detector = None
    previous_edges = None
    after_gap = True
    for index, frame, name, follows in _frames_of(path):
        if frame is None:
            log.warning("%s: %s is unreadable; skipped (the next frame starts without a previous frame)", path, name)
            skipped += 1
            after_gap = True
            continue
        if line_frames is not None:
            if index >= len(line_frames):
                raise TrainingError(f"{lineart_path}: has {len(line_frames)} frames, fewer than {path}")
            line_full = media.read_image(line_frames[index], mode=cv2.IMREAD_GRAYSCALE)
            if line_full.shape[:2] != frame.shape[:2]:
                line_full = media.resize(line_full, (frame.shape[1], frame.shape[0]))
        else:
            line_full = lineart_of(frame, params, index)
        width, height = _scaled_size(frame.shape[1], frame.shape[0], size)
        if colours and (width, height) != colours[0].shape[1::-1]:
            width, height = colours[0].shape[1::-1]  # mixed sizes inside a clip: follow the first frame
        colour = media.resize(frame, (width, height), cv2.INTER_AREA)
        line = media.resize(line_full, (width, height), cv2.INTER_AREA)
        detector = detector or detector_for(line_full.shape[1], line_full.shape[0])
        edges = detector.edges(analysis_view(line_full, params.mode == "lineart"), params.mode == "lineart")
        starts.append(after_gap or not follows or detector.is_cut(previous_edges, edges))
        previous_edges, after_gap = edges, False
        colours.append(colour)
        lines.append(line)
    if not colours:
        raise TrainingError(f"{path}: no readable frames")
    target.mkdir(parents=True, exist_ok=True)
    np.save(target / "colour.npy", np.stack(colours))
    np.save(target / "line.npy", np.stack(lines))
    np.save(target / "shot_start.npy", np.array(starts, bool))
    (target / "done.json").write_text(json.dumps({"name": path.name, "skipped": skipped, "frames": len(colours)}))
    return Clip(path.name, np.load(target / "colour.npy", mmap_mode="r"), np.load(target / "line.npy", mmap_mode="r"),
                np.array(starts, bool), skipped)


def load_clips(data_dir: Path, cache_dir: Path, size: int, params: LineartParams, lineart_dir: Path | None = None) -> list[Clip]:
    clips = []
    for path in find_clips(data_dir):
        paired = None
        if lineart_dir is not None:
            paired = Path(lineart_dir) / (path.name if path.is_dir() else path.stem)
            if not paired.is_dir():
                raise TrainingError(f"{paired}: no line art for clip {path.name}", hint="--lineart-dir must mirror DATA's layout")
        try:
            clip = prepare_clip(path, cache_dir, size, params, paired)
        except TcvcError as exc:
            raise TrainingError(f"{path}: {exc.message}", hint=exc.hint) from None
        if len(clip) == 1:
            log.warning("%s: a clip of one frame only teaches colouring without a previous frame", path)
        clips.append(clip)
    return clips


def split_clips(clips: list[Clip], val_fraction: float) -> tuple[list[Clip], list[Clip]]:
    """Hold out whole clips (the last ones) for validation; one clip is split into head and tail."""
    if val_fraction <= 0:
        return clips, []
    if len(clips) >= 2:
        count = min(len(clips) - 1, max(1, round(len(clips) * val_fraction)))
        return clips[:-count], clips[-count:]
    clip = clips[0]
    cut = max(1, int(len(clip) * (1 - val_fraction)))
    if cut >= len(clip):
        return clips, []
    head = Clip(clip.name, clip.colour[:cut], clip.line[:cut], clip.shot_start[:cut], clip.skipped)
    tail_starts = clip.shot_start[cut:].copy()
    tail_starts[0] = True
    log.warning("only one clip: validating on its last %d frames (held out as a block, not at random)", len(clip) - cut)
    return [head], [Clip(clip.name + " (tail)", clip.colour[cut:], clip.line[cut:], tail_starts)]


# Largest mean colour difference (0-1) between frame t and the true frame before it moved along
# the estimated motion for that motion to count as right at a pixel.
MOTION_TOLERANCE = 0.05

# A still (a frame alone in its shot: a corrected frame, say) has no previous frame. For
# motion-compensated models it is shown, this often, as a frame half carried: its own colours
# where motion would explain them, and the regions it would not left for the generator to paint
# (the rest of the time the condition is blank, as at a shot start).
STILL_PARTIAL = 0.75


def partial_condition(colour: np.ndarray, line: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A still as colorize meets new content in a carried frame: (colours HxWx3, explained HxW bool).

    Regions enclosed by the lines drop out, each with one chance drawn per sample (a quarter to
    three quarters), except the large ones (backgrounds, which carried frames explain), and half
    the time so does a band along one edge, as when a character walks into the picture.
    Dropped pixels, and the strokes around them, hold the colours of a wrong guess (the frame
    shifted), as the motion's guess there would; the rest hold their own colours.
    """
    height, width = line.shape[:2]
    count, labels = line_regions(line, gap_radius(width, height))
    dropped_labels = rng.random(count) < rng.uniform(0.25, 0.75)
    dropped_labels[0] = False  # the strokes go with the regions around them, below
    dropped_labels[np.bincount(labels.ravel(), minlength=count) > 0.25 * height * width] = False
    dropped = dropped_labels[labels]
    if rng.random() < 0.5:
        side, depth = int(rng.integers(4)), rng.uniform(0.1, 0.5)
        band = max(1, round(depth * (width if side < 2 else height)))
        edge = [np.s_[:, :band], np.s_[:, -band:], np.s_[:band, :], np.s_[-band:, :]][side]
        dropped[edge] = True
    reach = 2 * gap_radius(width, height) + 1
    dropped = cv2.dilate(dropped.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(bool)
    shift = rng.integers(max(2, min(width, height) // 8), max(3, min(width, height) // 3) + 1, size=2) * rng.choice([-1, 1], 2)
    guess = np.roll(colour, tuple(int(v) for v in shift), axis=(0, 1))
    return np.where(dropped[..., None], guess, colour), ~dropped


class SequenceDataset(Dataset):
    """(line art, previous colour, colour) samples; the previous frame is blank with probability p.

    With `history=K`, a sample also carries what the trainer needs to let the generator make
    its own previous frame, as it must at inference: the line art of the K frames before t
    (`history_lines`), which of them belong to t's shot (`history_valid`), and the condition
    of the first of them (`history_start`: the true frame before it, or blank at a shot start).

    With `max_gap=G > 1` (training only), the true frame the condition comes from is 1 to G
    frames before where it belongs (uniformly, never before the shot start): content has
    moved further than between neighbours, as it has when a fed-back frame left something
    behind, and the generator must learn not to carry it over.

    With `motion=True` (and a history), a sample also carries the true motion from frame t-1
    to t: `motion` (2, H, W), where each pixel of t came from in t-1 (optical flow between the
    true colour frames), and `motion_valid` (1, H, W), the pixels of one shot visible in both
    frames where that motion carries the true frame t-1 onto frame t. The trainer asks there
    that G's output for t agree with its own output for t-1 moved along the motion
    (docs/feedback.md).

    Randomness (crop position, blank previous, gap) comes from a generator seeded by the sample
    index and the epoch, so a resumed run sees exactly the samples an uninterrupted one would.
    """

    def __init__(self, clips: list[Clip], crop: int, blank_probability: float = 0.5, train: bool = True, seed: int = 0,
                 history: int = 0, max_gap: int = 1, motion: bool = False, line_motion: bool = False):
        self.clips = clips
        self.crop = crop
        self.blank_probability = blank_probability
        self.train = train
        self.seed = seed
        self.history = history
        self.max_gap = max_gap if train else 1
        self.motion = motion and history > 0
        self._flow: FlowField | None = None
        # Motion-compensated conditions: the line art's motion between the frames of each pair,
        # computed on whole frames (then cropped) exactly as colorize computes it at its work size.
        self.line_motion = line_motion
        self._line_motion: LineMotion | None = None
        self._pair_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.epoch = 0
        self.index = [(c, f) for c, clip in enumerate(clips) for f in range(len(clip))]
        # index of the shot each frame belongs to starts at
        self.shot_starts = []
        for clip in clips:
            starts, current = np.zeros(len(clip), int), 0
            for frame in range(len(clip)):
                if clip.shot_start[frame]:
                    current = frame
                starts[frame] = current
            self.shot_starts.append(starts)
        self.stills = [clip.shot_start & np.append(clip.shot_start[1:], True) for clip in clips]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_flow"] = None  # OpenCV's flow object does not cross into worker processes
        state["_line_motion"] = None
        state["_pair_cache"] = {}
        return state

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        # (item, epoch) keys carry the epoch into DataLoader worker processes, whose copies
        # of the dataset never see set_epoch().
        item, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        clip_index, frame = self.index[item]
        clip = self.clips[clip_index]
        rng = np.random.default_rng([self.seed, epoch, item])
        height, width = clip.colour.shape[1:3]
        if self.train:
            top, left = int(rng.integers(0, height - self.crop + 1)), int(rng.integers(0, width - self.crop + 1))
        else:
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
        window = (slice(top, top + self.crop), slice(left, left + self.crop))

        def colour(index: int) -> torch.Tensor:
            return torch.from_numpy(np.array(clip.colour[index][window])).permute(2, 0, 1).float() / 255

        def line(index: int) -> torch.Tensor:
            return torch.from_numpy(np.array(clip.line[index][window]))[None].float() / 255

        has_previous = not clip.shot_start[frame]
        blank = not has_previous or (self.train and rng.random() < self.blank_probability)
        gap = int(rng.integers(1, self.max_gap + 1)) if self.max_gap > 1 else 1
        shot = int(self.shot_starts[clip_index][frame])
        target = colour(frame)
        source = max(frame - gap, shot)
        sample = {"line": line(frame), "previous": torch.zeros_like(target) if blank else colour(source),
                  "target": target, "blank": torch.tensor(blank), "clip": torch.tensor(clip_index), "frame": torch.tensor(frame)}
        if self.line_motion:
            sample["flow"], sample["flow_valid"] = self.pair_motion(clip_index, frame, None if blank else source, window)
            if self.train and self.stills[clip_index][frame] and rng.random() < STILL_PARTIAL:
                colours, explained = partial_condition(np.asarray(clip.colour[frame][window]), np.asarray(clip.line[frame][window]), rng)
                sample["previous"] = torch.from_numpy(colours).permute(2, 0, 1).float() / 255
                sample["flow_valid"] = torch.from_numpy(explained.astype(np.float32))[None]
        if self.history:
            first = frame - self.history
            frames = range(first, frame)
            sample["history_lines"] = torch.stack([line(max(f, 0)) for f in frames])
            sample["history_valid"] = torch.tensor([f >= shot and not blank for f in frames])
            start = max(first - gap, shot)
            sample["history_start"] = colour(start) if first - 1 >= shot and not blank else torch.zeros_like(target)
            if self.line_motion:
                pairs = [self.pair_motion(clip_index, max(f, 0), (start if f == first else f - 1)
                                          if f - 1 >= shot and not blank else None, window) for f in frames]
                sample["history_flows"] = torch.stack([p[0] for p in pairs])
                sample["history_flow_valid"] = torch.stack([p[1] for p in pairs])
                sample["own_flow"], sample["own_flow_valid"] = self.pair_motion(
                    clip_index, frame, frame - 1 if frame - 1 >= shot and not blank else None, window)
            if self.motion:
                sample.update(self._motion(clip.colour, frame, window, valid=frame - 1 >= shot and not blank))
        return sample

    def pair_motion(self, clip_index: int, frame: int, source: int | None,
                    window: tuple[slice, slice]) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow (2, h, w), consistent (1, h, w)) pulling frame `source` onto `frame` along the line
        art's motion, on whole frames then cropped to `window`; zeros for no source (blank)."""
        height, width = window[0].stop - window[0].start, window[1].stop - window[1].start
        if source is None:
            return torch.zeros(2, height, width), torch.zeros(1, height, width)
        key = (clip_index, frame, source)
        if key not in self._pair_cache:
            if self._line_motion is None:
                self._line_motion = LineMotion()
            clip = self.clips[clip_index]
            if len(self._pair_cache) > 4096:
                self._pair_cache.clear()
            self._pair_cache[key] = self._line_motion.between(np.asarray(clip.line[frame]), np.asarray(clip.line[source]))
        flow, consistent = self._pair_cache[key]
        return (torch.from_numpy(np.ascontiguousarray(flow[window])).permute(2, 0, 1),
                torch.from_numpy(consistent[window].astype(np.float32))[None])

    def _motion(self, colour: np.ndarray, frame: int, window: tuple[slice, slice], valid: bool) -> dict[str, torch.Tensor]:
        now = np.ascontiguousarray(colour[frame][window])
        if not valid:
            height, width = now.shape[:2]
            return {"motion": torch.zeros(2, height, width), "motion_valid": torch.zeros(1, height, width, dtype=torch.bool)}
        if self._flow is None:
            self._flow = FlowField("fast")
        before = np.ascontiguousarray(colour[frame - 1][window])
        backward, forward = self._flow(now, before), self._flow(before, now)
        # Trust the motion only where it carries the true frame before onto frame t: optical flow
        # is unreliable inside flat colour fills, and where it is wrong (left at zero where a
        # character walked away, say) asking for consistency would teach G to leave trails.
        carried = np.abs(warp(before.astype(np.float32), backward) - now.astype(np.float32)).mean(-1) / 255.0
        trusted = ~occlusion_mask(backward, forward) & (carried <= MOTION_TOLERANCE)
        return {"motion": torch.from_numpy(backward).permute(2, 0, 1).contiguous(),
                "motion_valid": torch.from_numpy(trusted)[None]}


class MixedBatches:
    """Batch sampler for fine-tuning: each batch holds `replay` items of the earlier data (keys
    from `new_size` on) and the rest from the new data, whose order is reshuffled every time it
    runs out, so a few corrected frames still fill batches. Deterministic per (seed, epoch),
    split across processes, and able to start part-way through an epoch like EpochBatches."""

    def __init__(self, new_size: int, old_size: int, batch: int, replay: int, steps_per_epoch: int, rank: int, world: int,
                 seed: int):
        if replay and not old_size:
            raise ValueError("replay without earlier data")
        self.new_size, self.old_size, self.batch, self.replay = new_size, old_size, batch, replay
        self.steps, self.rank, self.world, self.seed = steps_per_epoch, rank, world, seed
        self.epoch, self.skip = 0, 0

    def set(self, epoch: int, skip: int) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.steps - self.skip

    @staticmethod
    def _stream(size: int, generator: torch.Generator):
        while True:
            yield from torch.randperm(size, generator=generator).tolist()

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
        new, old = self._stream(self.new_size, generator), self._stream(self.old_size, generator) if self.old_size else None
        fresh = self.batch - self.replay
        for step in range(self.steps):
            batches = []
            for _ in range(self.world):
                items = [next(new) for _ in range(fresh)] + [self.new_size + next(old) for _ in range(self.replay)]
                batches.append(items)
            if step >= self.skip:
                yield [(item, self.epoch) for item in batches[self.rank]]


class EpochBatches:
    """Batch sampler over (item, epoch) keys: a fixed shuffled order per epoch, split across
    processes, that can start part-way through an epoch (for exact resume)."""

    def __init__(self, size: int, batch: int, steps_per_epoch: int, rank: int, world: int, seed: int):
        self.size, self.batch, self.steps, self.rank, self.world, self.seed = size, batch, steps_per_epoch, rank, world, seed
        self.epoch, self.skip = 0, 0

    def set(self, epoch: int, skip: int) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.steps - self.skip

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        mine = order[self.rank::self.world][: self.steps * self.batch]
        for start in range(self.skip * self.batch, len(mine), self.batch):
            yield [(item, self.epoch) for item in mine[start:start + self.batch]]
