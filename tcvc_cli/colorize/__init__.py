"""Colorize: the engine that turns line-art frames into colour frames, and everything a run
writes and reports.

Modules, each importing only those above it (and the parts: `media`, `lineart`, `motion`,
`model`, `runtime`, `errors`):
- `layers`, `suggest`: the layers a run can write; which frames to paint next (docs/review.md);
- `options`: what a run is asked to do;
- `references`: the seed frame and keyframes, found, checked and loaded;
- `output`: the resumable work folder, tracks per layer, composition at the source size;
- `result`: what a run reports (--json), and the warning naming poorly explained frames;
- `contract`: what the loops below ask of the engine (a Protocol, so they never import it);
- `pipeline`: the reader and writer threads around the loop;
- `carried`, `plain`: one shot loop each: colours carried along the motion, or the plain
  model's feedback loop;
- `engine`: Colorizer, which plans a run, picks its loop and keeps what --resume can use.

docs/architecture.md follows one frame through these modules.
"""

from __future__ import annotations

from .engine import Colorizer
from .options import LINE_CHANGE, Anchor, ColorizeOptions, Delivery, Suggest, anchor_condition, work_dimensions
from .output import ResumableOutput, compose
from .references import find_keyframes, iter_inputs, load_reference
from .result import ColorizeResult

__all__ = [
    'Colorizer', 'LINE_CHANGE', 'Anchor', 'ColorizeOptions', 'Delivery', 'Suggest', 'anchor_condition', 'work_dimensions',
    'ResumableOutput', 'compose', 'find_keyframes', 'iter_inputs', 'load_reference', 'ColorizeResult'
]
