"""Motion: how line art moves from frame to frame, and colours carried along it.

Modules, each importing only those above it (and `media`, `lineart`, `errors`):
- `flow`: optical flow on the line art's guide, warping, where the motion explains a frame,
  and the motion-compensated condition shared by colorize and training;
- `shots`: scene-cut detection on the line art's edges;
- `regions`: line-enclosed regions matched between frames, and the smooth region fill;
- `ink`: which pixels of line art are strokes, and a coloured frame split into its paint and
  ink and laid together again;
- `propagate`: the carrying engine without a model: an artist's frame followed through a shot,
  lines laid where the frame's line art puts them (docs/motion.md);
- `between`: a frame between two artist's frames, from the passes carried from both.

The package re-exports `flow`'s names, so `motion.warp(...)` reads as before.
"""

from __future__ import annotations

from .flow import (DIS_PRESETS, FIELD_REACH, GUIDE_SIGMA, GUIDE_TOLERANCE, INK_THRESHOLD, NEAR_LINE, REGION_EXPLAINED,
                   FlowField, LineMotion, explained, field_gain, guide_residual, inside, line_field, line_guide,
                   motion_condition, occlusion_mask, warp, warp_tensor)

__all__ = [
    'DIS_PRESETS', 'FIELD_REACH', 'GUIDE_SIGMA', 'GUIDE_TOLERANCE', 'INK_THRESHOLD', 'NEAR_LINE',
    'REGION_EXPLAINED', 'FlowField', 'LineMotion', 'explained', 'field_gain', 'guide_residual', 'inside',
    'line_field', 'line_guide', 'motion_condition', 'occlusion_mask', 'warp', 'warp_tensor'
]
