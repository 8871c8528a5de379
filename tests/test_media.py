"""Probe, decode, encode and frame folders through the media engine."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tcvc_cli import media
from tcvc_cli.errors import InputError, OutputError
from tcvc_cli.sample import render_clip, write_clip

from .conftest import NTSC_FILM, ffmpeg


def test_probe_reports_size_count_exact_fps_and_audio(sample_video):
    info = media.probe(sample_video)
    assert (info.width, info.height) == (64, 64)
    assert info.frame_count == 16
    assert info.fps == NTSC_FILM
    assert info.audio_codecs == ("aac",)
    assert info.start_time == pytest.approx(0.0, abs=0.05)
    assert not info.variable_frame_rate
    assert info.duration == pytest.approx(16 / float(NTSC_FILM), abs=0.1)


def test_probe_reports_non_zero_start_time(sample_video, tmp_path):
    shifted = tmp_path / "shifted.mkv"
    ffmpeg("-i", str(sample_video), "-c", "copy", "-output_ts_offset", "2.5", str(shifted))
    info = media.probe(shifted)
    assert info.start_time == pytest.approx(2.5, abs=0.05)
    assert info.frame_count == 16


def test_lossless_round_trip_keeps_pixels(sample_video, clip_frames):
    with media.open_source(sample_video) as source:
        frames = list(source)
    assert len(frames) == 16
    for decoded, original in zip(frames, clip_frames[0]):
        np.testing.assert_array_equal(decoded, original)


def test_video_to_frames_to_video_keeps_count_fps_and_audio(sample_video, tmp_path):
    folder = tmp_path / "frames"
    with media.open_source(sample_video) as source, \
            media.FolderWriter(folder, source.info.fps, metadata={"source": str(sample_video), "start_frame": 0, "every": 1}) as sink:
        media.copy_frames(source, sink)
    assert len(media.list_frames(folder)) == 16
    with media.open_source(folder) as frames:
        assert frames.info.fps == NTSC_FILM
        assert frames.info.audio_source == sample_video
        with media.open_sink(tmp_path / "back.mp4", like=frames.info) as sink:
            media.copy_frames(frames, sink)
    back = media.probe(tmp_path / "back.mp4")
    assert back.frame_count == 16
    assert back.fps == NTSC_FILM
    assert back.audio_codecs == ("aac",)


def test_subtitles_are_copied_into_the_output(sample_video, tmp_path):
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nhello\n", "utf-8")
    with_subs = tmp_path / "with subs.mkv"
    ffmpeg("-i", str(sample_video), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", str(with_subs))
    with media.open_source(with_subs) as source, media.open_sink(tmp_path / "out.mp4", like=source.info) as sink:
        media.copy_frames(source, sink)
    out = media.probe(tmp_path / "out.mp4")
    assert out.subtitle_codecs == ("mov_text",)
    assert out.audio_codecs == ("aac",)


def test_variable_frame_rate_source_keeps_every_frame(tmp_path):
    vfr = tmp_path / "vfr.mkv"
    # 20 frames whose timestamps jump after frame 9: a variable frame rate stream.
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "20",
           "-vf", "setpts='if(lt(N,10),N,N*3)/(10*TB)'", "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(vfr))
    info = media.probe(vfr)
    assert info.variable_frame_rate
    assert info.frame_count == 20
    with media.open_source(vfr) as source:
        assert sum(1 for _ in source) == 20


def test_odd_sizes_are_padded_for_h264_and_exact_when_lossless(tmp_path):
    colour, _ = render_clip(seed=1, frames=3, size=(33, 21))
    lossy = write_clip(tmp_path / "odd.mp4", colour, lossless=False)
    assert (media.probe(lossy).width, media.probe(lossy).height) == (34, 22)
    exact = write_clip(tmp_path / "odd-exact.mp4", colour, lossless=True)
    with media.open_source(exact) as source:
        np.testing.assert_array_equal(next(iter(source)), colour[0])


def test_selection_start_end_every(sample_video, clip_frames):
    selection = media.FrameSelection(start=2, end=11, every=3)
    with media.open_source(sample_video, selection) as source:
        frames = list(source)
        assert source.info.frame_count == 3
    for got, index in zip(frames, (2, 5, 8)):
        np.testing.assert_array_equal(got, clip_frames[0][index])


@pytest.mark.parametrize("text,expected", [("120", 120), ("5s", 125), ("5.0", 125), ("00:00:02", 50), ("1:00.5", 1512)])
def test_positions_are_frames_or_times(text, expected):
    assert media.parse_position(text, Fraction(25)) == expected


def test_folder_frames_are_ordered_by_number_not_name(tmp_path, clip_frames):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in (8, 9, 10, 11):  # "10" sorts before "8" as text
        media.write_image(folder / f"f{index}.png", clip_frames[0][index])
    with media.open_source(folder) as source:
        frames = list(source)
        assert source.info.numbers == [8, 9, 10, 11]
    np.testing.assert_array_equal(frames[1], clip_frames[0][9])
    np.testing.assert_array_equal(frames[2], clip_frames[0][10])


def test_interrupted_write_leaves_nothing_under_the_final_name(sample_video, tmp_path):
    target = tmp_path / "out.mp4"

    def explode_on_fourth(frame, seen=[]):
        seen.append(1)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return frame

    with pytest.raises(KeyboardInterrupt):
        with media.open_source(sample_video) as source, media.open_sink(target, like=source.info) as sink:
            media.copy_frames(source, sink, explode_on_fourth)
    assert list(tmp_path.iterdir()) == []


def test_truncated_video_is_an_input_error(tmp_path):
    colour, _ = render_clip(seed=2, frames=40, size=(96, 64))
    whole = write_clip(tmp_path / "whole.mkv", colour, lossless=False)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pytest.raises(InputError, match="truncated"):
        media.probe(cut)


def test_writer_refuses_existing_output_without_overwrite(sample_video, tmp_path):
    target = tmp_path / "exists.mp4"
    target.write_bytes(b"keep me")
    with media.open_source(sample_video) as source:
        with pytest.raises(OutputError, match="already exists"):
            media.open_sink(target, like=source.info)
    assert target.read_bytes() == b"keep me"


def test_encoded_video_is_tagged_bt709(sample_video, tmp_path):
    with media.open_source(sample_video) as source, media.open_sink(tmp_path / "tagged.mp4", like=source.info) as sink:
        media.copy_frames(source, sink)
    assert media.probe(tmp_path / "tagged.mp4").color_matrix == "bt709"


def test_an_xvid_avi_without_presentation_times_reads_at_its_frame_rate(cli, tmp_path):
    # MPEG-4 Part 2 with B-frames in AVI, as XviD and DivX write it: most packets carry no
    # presentation time (ffmpeg's AV_NOPTS_VALUE), only a decode time.
    avi = tmp_path / "old camera.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=720x528:rate=24000/1001", "-t", "1", "-c:v", "mpeg4", "-vtag", "xvid",
           "-bf", "2", "-q:v", "5", str(avi))
    packets, _ = media.run_ffmpeg(["-v", "error", "-i", str(avi), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], "test")
    assert "-9223372036854775808" in packets  # the fixture is the kind of file it claims to be
    info = media.probe(avi)
    assert info.fps == NTSC_FILM and info.frame_count == 24
    result = cli("lineart", avi, "-o", tmp_path / "lines.mp4")
    assert result.exit_code == 0, result.output
    lines = media.probe(tmp_path / "lines.mp4")
    assert lines.fps == NTSC_FILM and lines.frame_count == 24
