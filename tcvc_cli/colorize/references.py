"""The artist's frames a run starts from: the seed frame and keyframes, found, checked for size
and aspect, and loaded; and the inputs a command names (folders of episodes expanded).

Owns: load_reference, find_keyframes, iter_inputs. Imports: media, errors.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .. import media
from ..errors import InputError
from ..media.editorial import Shot
from ..media.sequence import frame_number

log = logging.getLogger("tcvc")


# Two sizes have the same aspect ratio when they differ by no more than this share (rounding).
ASPECT_TOLERANCE = 0.01


def load_reference(path: Path, size: tuple[int, int], what: str, stretch: bool = False) -> np.ndarray:
    """A coloured frame (seed or keyframe) as RGB uint8 at `size`.

    A frame of another size but the same aspect ratio is scaled (with a note in the log); one of
    another aspect ratio is almost always the wrong file and is refused, unless `stretch`."""
    raw = media.read_image(Path(path))
    own = raw.shape[1], raw.shape[0]
    if own != size:
        check_reference_size(path, own, size, what, stretch)
        log.info("%s %s is %dx%d; scaled to %dx%d", what, path, *own, *size)
        raw = media.resize(raw, size)
    return np.ascontiguousarray(raw[:, :, :3])


def check_reference_size(path: Path, own: tuple[int, int], size: tuple[int, int], what: str, stretch: bool) -> None:
    aspect, wanted = own[0] / own[1], size[0] / size[1]
    if abs(aspect / wanted - 1) > ASPECT_TOLERANCE and not stretch:
        raise InputError(f"{path}: the {what} is {own[0]}x{own[1]}, the line art {size[0]}x{size[1]}: another aspect ratio",
                         hint="pass the coloured frame of this shot, or --stretch-references to scale it anyway")


def find_keyframes(folder: Path, info: media.SourceInfo, shots: list[Shot] | None = None) -> dict[int, Path]:
    """Keyframes by the frame they replace, as indices into the input.

    Files are named by frame number: the input's own numbers for a numbered sequence
    (shot010.1012.png or 1012.png), the 0-based index for a video (000120.png). With a shot
    list, the folder may hold one subfolder per shot, named as in the list; a file without a
    number there is the keyframe of the shot's first frame.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: the keyframes folder does not exist")
    numbers = info.numbers or list(range(info.frame_count))
    index_of = {number: index for index, number in enumerate(numbers)}
    span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
    keyframes: dict[int, Path] = {}

    def add(path: Path, index: int) -> None:
        if index in keyframes:
            raise InputError(f"{path}: a second keyframe for frame {numbers[index]} (also {keyframes[index]})",
                             hint="keep one keyframe per frame")
        keyframes[index] = path

    for path in media.list_frames(folder):
        number = frame_number(path)
        if number is None:
            continue
        if number not in index_of:
            raise InputError(f"{path}: keyframe for frame {number}, but the input's frames are {span}",
                             hint="keyframes are named by the number of the frame they replace (a video's frames count from 0)")
        add(path, index_of[number])
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders and shots:
        by_name = {shot.name: (shot, following) for shot, following in zip(shots, [*shots[1:], None])}
        for sub in subfolders:
            if sub.name not in by_name:
                raise InputError(f"{sub}: no shot of that name in the shot list",
                                 hint=f"shots: {', '.join(list(by_name)[:12])}")
            shot, following = by_name[sub.name]
            end = following.first if following else info.frame_count
            for path in media.list_frames(sub):
                number = frame_number(path)
                index = shot.first if number is None else index_of.get(number)
                if index is None or not shot.first <= index < end:
                    raise InputError(f"{path}: frame {number} is not in shot {shot.name} "
                                     f"({numbers[shot.first]}-{numbers[end - 1]})")
                add(path, index)
    elif subfolders and not keyframes:
        raise InputError(f"{folder}: keyframes in subfolders need --shots to say which shot each folder is")
    if not keyframes:
        raise InputError(f"{folder}: no keyframes (images named by frame number, e.g. 000120.png or shot010.1012.png)")
    return keyframes


def looks_coloured(frame: np.ndarray) -> bool:
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    return float(hsv[:, :, 1].mean()) > 40 and float((frame.mean(axis=2) > 200).mean()) < 0.5


def file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    """Expand folders of episodes: a folder without frames stands for the videos inside it."""
    for path in paths:
        if path.is_dir() and not media.list_frames(path):
            videos = sorted(p for p in path.iterdir() if p.is_file() and media.is_video_path(p))
            if not videos:
                raise InputError(f"{path}: holds neither frames nor videos")
            yield from videos
        else:
            yield path
