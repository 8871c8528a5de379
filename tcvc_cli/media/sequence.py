"""Numbered image sequences: how frames are named on disk, and which frames a sequence holds.

A studio names frames `shot010.1001.png`, writes the sequence as a printf pattern
(`shot010.%04d.png`, ffmpeg and Nuke) or a hash pattern (`shot010.####.png`, Nuke and
OpenImageIO), and starts where it likes (1001 is common). tcvc reads such a sequence by its
pattern or its folder, keeps each frame's number through to the output, and treats a hole in
the numbers as an error unless told to hold the frame before it.

A folder whose images do not share one naming pattern (unrelated pages, scans) is read in
order of the last number in each name, then by name, and numbered from 0.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError

log = logging.getLogger("tcvc")

# What a frame file may be; which of them tcvc can also write is decided in images.py.
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".exr", ".tga", ".dpx"}

_PRINTF_RE = re.compile(r"%(0?)(\d*)d")
_HASH_RE = re.compile(r"#+")
_NUMBERED_RE = re.compile(r"^(.*?)(-?\d+)(\D*)$")


@dataclass(frozen=True)
class Naming:
    """`prefix` + the frame number padded to `padding` digits + `suffix` (extension included)."""

    prefix: str
    padding: int
    suffix: str

    def name(self, number: int) -> str:
        sign = "-" if number < 0 else ""
        return f"{self.prefix}{sign}{abs(number):0{self.padding}d}{self.suffix}"

    @property
    def printf(self) -> str:
        """The pattern as ffmpeg and Nuke write it: shot010.%04d.png."""
        return f"{self.prefix.replace('%', '%%')}%0{self.padding}d{self.suffix.replace('%', '%%')}"

    @property
    def hashes(self) -> str:
        """The pattern as Nuke and OpenImageIO write it: shot010.####.png."""
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"

    @property
    def extension(self) -> str:
        return Path("frame" + self.suffix).suffix.lower()

    def with_extension(self, extension: str) -> "Naming":
        keep = len(self.suffix) - len(Path("frame" + self.suffix).suffix)
        return Naming(self.prefix, self.padding, self.suffix[:keep] + extension)

    def with_layer(self, layer: str) -> "Naming":
        """shot010.####.png -> shot010_paint.####.png: a sibling sequence for one layer."""
        core = self.prefix.rstrip("._-")
        joint = self.prefix[len(core):] or "."
        return Naming(f"{core}_{layer}{joint}" if core else f"{layer}{joint}", self.padding, self.suffix)

    def number_of(self, filename: str) -> int | None:
        """The frame number of `filename` if it belongs to this sequence."""
        if not (filename.startswith(self.prefix) and filename.endswith(self.suffix)):
            return None
        digits = filename[len(self.prefix): len(filename) - len(self.suffix)]
        if not re.fullmatch(r"-?\d+", digits):
            return None
        bare = digits.lstrip("-")
        if len(bare) < self.padding or (len(bare) > self.padding and bare.startswith("0")):
            return None
        return int(digits)


def parse_pattern(text: str | Path) -> tuple[Path, Naming] | None:
    """(folder, naming) for `shot010.%04d.png` or `shot010.####.png`; None for a plain path."""
    path = Path(text)
    name = path.name
    printf = list(_PRINTF_RE.finditer(name))
    hashes = list(_HASH_RE.finditer(name))
    if not printf and not hashes:
        return None
    if len(printf) + len(hashes) > 1:
        raise UsageError(f"{text}: the pattern holds more than one frame-number field", hint="use one %04d or one ####")
    if printf:
        match = printf[0]
        width = match.group(2)
        padding = int(width) if width else 1
        prefix, suffix = name[: match.start()].replace("%%", "%"), name[match.end():].replace("%%", "%")
    else:
        match = hashes[0]
        padding = len(match.group(0))
        prefix, suffix = name[: match.start()], name[match.end():]
    if padding < 1 or padding > 12:
        raise UsageError(f"{text}: frame numbers padded to {padding} digits are not supported", hint="use 1 to 12 digits")
    return path.parent, Naming(prefix, padding, suffix)


def is_pattern(text: str | Path) -> bool:
    name = Path(text).name
    return bool(_PRINTF_RE.search(name) or _HASH_RE.search(name))


def number_ranges(numbers: list[int], limit: int = 12) -> str:
    """[1005, 1006, 1007, 1012] -> '1005-1007, 1012' (at most `limit` ranges, then a count)."""
    ranges: list[str] = []
    start = previous = None
    for number in sorted(numbers):
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            ranges.append(f"{start}-{previous}" if previous != start else f"{start}")
        start = previous = number
    if start is not None:
        ranges.append(f"{start}-{previous}" if previous != start else f"{start}")
    if len(ranges) > limit:
        return ", ".join(ranges[:limit]) + f", ... ({len(ranges) - limit} more ranges)"
    return ", ".join(ranges)


@dataclass
class Sequence:
    """The frames of a sequence in order: one file and one number per frame.

    `naming` is None for a folder of unrelated images (numbered 0, 1, ... in reading order).
    `held` lists the numbers that had no file and repeat the frame before them.
    """

    folder: Path
    naming: Naming | None
    numbers: list[int]
    files: list[Path]
    held: list[int] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.numbers[0]

    @property
    def last(self) -> int:
        return self.numbers[-1]

    @property
    def pattern(self) -> str | None:
        return str(self.folder / self.naming.printf) if self.naming else None


def _numbered(name: str) -> tuple[str, str, str] | None:
    match = _NUMBERED_RE.match(name)
    if not match:
        return None
    prefix, digits, suffix = match.groups()
    if digits.startswith("-") and prefix and prefix[-1].isalnum():
        prefix, digits = prefix + "-", digits[1:]  # shot-0001: a separator, not a negative number
    return prefix, digits, suffix


def frame_number(path: Path) -> int | None:
    """The last number in a file's name (shot010.1012.png -> 1012), or None without one."""
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _frame_key(path: Path) -> tuple[int, str]:
    number = frame_number(path)
    return (-1 if number is None else number, path.name)


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder (hidden files skipped), ordered by the last number in their name."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=_frame_key)


def _naming_of(files: list[Path]) -> Naming | None:
    """The one pattern all `files` follow, or None when they follow several or none."""
    groups: set[tuple[str, str]] = set()
    lengths: list[tuple[int, bool]] = []
    for file in files:
        parts = _numbered(file.name)
        if parts is None:
            return None
        prefix, digits, suffix = parts
        groups.add((prefix, suffix))
        bare = digits.lstrip("-")
        lengths.append((len(bare), bare.startswith("0") and len(bare) > 1))
        if len(groups) > 1:
            return None
    if not groups:
        return None
    prefix, suffix = groups.pop()
    padded = any(zero for _, zero in lengths) or len({n for n, _ in lengths}) == 1
    padding = min(n for n, _ in lengths) if padded else 1
    return Naming(prefix, padding, suffix)


def _sequences_in(files: list[Path]) -> list[str]:
    """Hash patterns of the numbered sequences (two frames or more) among `files`."""
    counts: dict[tuple[str, str], int] = {}
    for file in files:
        parts = _numbered(file.name)
        if parts is not None:
            counts[(parts[0], parts[2])] = counts.get((parts[0], parts[2]), 0) + 1
    return sorted(f"{prefix}####{suffix}" for (prefix, suffix), count in counts.items() if count > 1)


def scan(path: str | Path, *, fill_gaps: bool = False) -> Sequence:
    """The sequence named by a folder or a printf/hash pattern.

    Missing numbers inside a named sequence raise InputError naming them, or with
    `fill_gaps` are held: the frame before the gap stands in for each missing one.
    """
    parsed = parse_pattern(path)
    if parsed is not None:
        folder, naming = parsed
        if not folder.is_dir():
            raise InputError(f"{path}: the folder {folder} does not exist")
        found: dict[int, Path] = {}
        for file in folder.iterdir():
            number = naming.number_of(file.name) if file.is_file() else None
            if number is not None:
                found[number] = file
        if not found:
            raise InputError(f"{path}: no frames match the pattern", hint=f"expected names like {naming.name(1001)}")
    else:
        folder = Path(path)
        files = image_files(folder)
        if not files:
            raise InputError(f"{folder}: the folder holds no frames (no {', '.join(sorted(IMAGE_EXTENSIONS))} files)")
        naming = _naming_of(files)
        if naming is None:
            several = _sequences_in(files)
            if len(several) > 1:
                raise InputError(f"{folder}: holds several numbered sequences ({', '.join(several[:4])})",
                                 hint=f"name one with its pattern, e.g. {folder / several[0]}")
            return Sequence(folder, None, list(range(len(files))), files)
        found = {}
        for file in files:
            number = int(_numbered(file.name)[1])
            if number in found:
                raise InputError(f"{folder}: frame {number} appears twice ({found[number].name}, {file.name})",
                                 hint="keep one file per frame number")
            found[number] = file
    numbers = sorted(found)
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    where = folder / naming.hashes
    if missing and not fill_gaps:
        raise InputError(f"{where}: {len(missing)} frame(s) missing from {numbers[0]}-{numbers[-1]}: {number_ranges(missing)}",
                         hint="render or copy the missing frames, or pass --fill-gaps to hold the frame before each gap")
    files_in_order: list[Path] = []
    current = found[numbers[0]]
    for number in range(numbers[0], numbers[-1] + 1):
        current = found.get(number, current)
        files_in_order.append(current)
    return Sequence(folder, naming, list(range(numbers[0], numbers[-1] + 1)), files_in_order, held=missing)
