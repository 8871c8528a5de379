"""Motion between line-art frames: optical flow, warping, and where the motion explains a frame.

One implementation for colorize (carrying colours from an artist's frame to the frames after
it), training (building the same motion-compensated condition) and the temporal metrics.

Line art is sparse: between two strokes a frame is flat white, and optical flow has nothing to
follow there. The flow therefore runs on a guide: the line art blurred with a Gaussian of
sigma 2 pixels, which turns every stroke into a soft valley DIS can track. On the artists'
line art of bench/realart.py it beat the distance field that tcvc used before on two clips of
three, by up to 4.5 dB, and lost on the third by 0.7 dB (docs/motion.md).

A pixel is explained when the reference's guide, carried along the flow, matches this frame's
guide around it, and the flow stays inside the reference. Flat paint far from any line gives
the check nothing to see; it takes the verdict of its line-enclosed region, so a shape whose
outline the motion does not explain (new content) is unexplained as a whole.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..lineart import frame_regions, to_grey

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

# Blur of the line art that the flow follows, in pixels of the flow size.
GUIDE_SIGMA = 2.0
# Motion explains a pixel when the reference's guide carried along it differs from this
# frame's own by at most this much (grey levels, averaged over a 5x5 window): a stroke moved
# by a pixel from where the flow puts it differs by about 30.
GUIDE_TOLERANCE = 12.0
# A guide pixel darker than this lies near a stroke: there the check has something to see.
NEAR_LINE = 250
# A line-enclosed region counts as new when less than this share of its pixels near strokes is
# explained.
REGION_EXPLAINED = 0.5
# Distance field (a candidate flow input the benchmarks compare): rises from 0 on the lines to
# 255 at a tenth of the frame's short side from them.
FIELD_REACH = 0.1
# A line-art pixel is ink below this value (0-255).
INK_THRESHOLD = 128


def field_gain(shape: tuple[int, ...]) -> float:
    """Grey levels of the distance field per pixel of distance, for a frame of this shape."""
    return 255.0 / max(1.0, FIELD_REACH * min(shape[0], shape[1]))


class FlowField:
    """Dense optical flow with OpenCV's DIS on 8-bit single-channel images.

    The medium preset by default; the fast one (2.4 times quicker) where training needs flow
    for every sample of colour frames.
    """

    def __init__(self, preset: str = "medium") -> None:
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow (H, W, 2) such that first(x) ~ second(x + flow(x))."""
        return self._dis.calc(to_grey(first), to_grey(second), None)

    def __getstate__(self) -> dict:
        return {"preset": self.preset}  # OpenCV's object does not cross into worker processes

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["preset"])


def line_guide(line: np.ndarray) -> np.ndarray:
    """What the flow follows: black-on-white line art (uint8 HxW) blurred with GUIDE_SIGMA."""
    return cv2.GaussianBlur(to_grey(line), (0, 0), GUIDE_SIGMA, borderType=cv2.BORDER_REPLICATE)


def line_field(line: np.ndarray) -> np.ndarray:
    """The distance field of black-on-white line art (uint8 HxW): 0 on lines, rising away from them."""
    paper = (to_grey(line) >= INK_THRESHOLD).astype(np.uint8)
    gain = field_gain(paper.shape)
    # A page without a line has no distance to measure (OpenCV returns the largest float): all far.
    distance = np.minimum(cv2.distanceTransform(paper, cv2.DIST_L2, 3), 255.0 / gain)
    return np.minimum(distance * gain, 255).astype(np.uint8)


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `image` at x + flow(x) (edges replicated): pulls a frame's content to where flow says it went."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """True where the forward-backward check fails (Sundaram et al. 2010, as used by Lai et al. 2018).

    `forward` maps frame a to b and `backward` b to a, both in the convention of FlowField;
    the mask is on frame a's pixels.
    """
    backward_at_target = warp(backward, forward)
    round_trip = forward + backward_at_target
    magnitude = (forward**2).sum(-1) + (backward_at_target**2).sum(-1)
    return (round_trip**2).sum(-1) > 0.01 * magnitude + 0.5


def inside(positions: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """True where absolute positions (H, W, 2) fall inside a frame of the same size."""
    height, width = positions.shape[:2]
    x, y = positions[..., 0], positions[..., 1]
    return (x >= -margin) & (x <= width - 1 + margin) & (y >= -margin) & (y <= height - 1 + margin)


def guide_residual(guide: np.ndarray, carried_guide: np.ndarray) -> np.ndarray:
    """How far a carried guide is from a frame's own, pixel by pixel (float32, 5x5 mean)."""
    difference = cv2.absdiff(guide, carried_guide)
    return cv2.blur(difference.astype(np.float32), (5, 5))


def explained(residual: np.ndarray, within: np.ndarray, guide: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Where the motion explains a frame (HxW bool): the carried guide matches the frame's own
    (`residual` from guide_residual) and the motion stays inside the reference (`within`).

    A line-enclosed region (`labels`, `count` from line_regions) whose pixels near strokes are
    mostly unexplained is new content and unexplained as a whole, flat paint inside it too."""
    good = (residual <= GUIDE_TOLERANCE) & within
    near = (guide < NEAR_LINE) & (labels > 0)
    seen = np.bincount(labels[near], minlength=count).astype(np.float64)
    agreed = np.bincount(labels[near & good], minlength=count)
    new = agreed < REGION_EXPLAINED * seen
    new[0] = False  # the strokes themselves are judged pixel by pixel
    return good & ~new[labels]


class LineMotion:
    """Motion from a frame's line art to a reference frame's, and where it explains the frame."""

    def __init__(self, preset: str = "medium") -> None:
        self.flow = FlowField(preset)

    def between(self, line: np.ndarray, reference_line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow, consistent) for two line-art frames (uint8 HxW) of one size.

        `flow` pulls the reference frame onto this one (this(x) ~ reference(x + flow(x))).
        `consistent` marks this frame's pixels where the motion explains the frame (explained()).
        """
        guide, reference_guide = line_guide(line), line_guide(reference_line)
        flow = self.flow(guide, reference_guide)
        positions = _grid(flow.shape[1], flow.shape[0]) + flow
        residual = guide_residual(guide, warp(reference_guide, flow))
        count, labels = frame_regions(line)
        return flow, explained(residual, inside(positions), guide, labels, count)


def _grid(width: int, height: int) -> np.ndarray:
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([grid_x, grid_y], -1)


# --------------------------------------------------------------------------- tensors (the generator's condition)


def warp_tensor(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Batched warp(): images (B, C, H, W) sampled at x + flow(x), flow (B, 2, H, W) in pixels."""
    batch, _, height, width = images.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=images.device, dtype=flow.dtype),
                            torch.arange(width, device=images.device, dtype=flow.dtype), indexing="ij")
    grid_x = (xs + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    grid_y = (ys + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([grid_x, grid_y], -1)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def motion_condition(source: torch.Tensor, flow: torch.Tensor, consistent: torch.Tensor) -> torch.Tensor:
    """The generator's motion-compensated condition: the source colour frame (B, 3, H, W) moved
    onto frame t along `flow` (B, 2, H, W), and the mask of where that motion is consistent
    (B, 1, H, W) as a fourth channel. A blank source (all zeros) stays blank with a zero mask."""
    moved = warp_tensor(source, flow)
    return torch.cat([moved, consistent.to(moved.dtype)], 1)
