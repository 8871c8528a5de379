"""Synthetic line art: the paper's Canny recipe, black on white, on the true outlines."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tcvc_cli.errors import UsageError
from tcvc_cli.lineart import LineartParams, canny_lineart, extract
from tcvc_cli.sample import render_clip


def test_lineart_is_single_channel_black_on_white(clip_frames):
    lines = canny_lineart(clip_frames[0][0])
    assert lines.dtype == np.uint8 and lines.ndim == 2
    assert set(np.unique(lines)) <= {0, 255}
    assert (lines == 255).mean() > 0.6  # mostly white paper


def test_lineart_edges_sit_on_the_true_outlines():
    colour, truth = render_clip(seed=4, frames=3, size=(256, 256))
    for frame, true_lines in zip(colour, truth):
        edges = canny_lineart(frame) == 0
        near_truth = cv2.dilate((true_lines < 128).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        near_edges = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert edges[near_truth].sum() / edges.sum() > 0.97  # edges lie on outlines
        assert near_edges[true_lines < 128].mean() > 0.9  # and outlines are found


def test_lineart_is_deterministic(clip_frames):
    first = [extract(f).tobytes() for f in clip_frames[0]]
    again = [extract(f).tobytes() for f in clip_frames[0]]
    assert first == again


def test_greyscale_mode_keeps_luma(clip_frames):
    grey = extract(clip_frames[0][0], LineartParams(mode="greyscale"))
    assert grey.ndim == 2
    assert len(np.unique(grey)) > 3


def test_thresholds_change_the_result(clip_frames):
    loose = (canny_lineart(clip_frames[0][0], low=10, high=30) == 0).sum()
    strict = (canny_lineart(clip_frames[0][0], low=200, high=600) == 0).sum()
    assert loose > strict


def test_bad_thresholds_are_refused():
    with pytest.raises(UsageError):
        LineartParams(low=200, high=100)
