"""Media: everything that reads or writes pictures, videos and sequences, through ffmpeg pipes.

Frames travel as RGB arrays of shape (H, W, 3) (or (H, W) for single-channel line art on the
way out): uint8, or uint16 where a source is read at 16 bits (`bits=16`). Sinks write either
at the depth they were asked for. Videos are decoded and encoded by the ffmpeg binary that
imageio-ffmpeg ships, always called with an argument list, with stderr drained on a thread so
a chatty ffmpeg can never block the pipe. Outputs are written under a temporary name and
renamed into place only when complete. docs/media.md explains the choices made here.

Modules, each importing only those above it (and `tcvc_cli.errors`):
- `ffmpeg`: the binary and running it; `sequence`: numbered names and scanning folders;
- `probing`: what a file holds, and its frame rate from packet timing;
- `images`: one picture in and out (PNG, TIFF, EXR, JPEG, DPX, TGA), depth and alpha;
- `reading`: frame sources (video pipes, image sequences); `editorial`: EDL and OTIO cuts;
- `encoding`: codecs, the video writer, stream copies; `writing`: sequences out, open_sink.

The package re-exports the names callers use, so `media.open_source(...)` reads as before.
"""

from __future__ import annotations

from .encoding import (CODECS, Codec, EncodeOptions, FrameSink, VideoWriter, check_output, concat_videos,
                       ensure_writable_dir, passthrough_args)
from .ffmpeg import DEFAULT_FOLDER_FPS, FRAMES_JSON, VIDEO_EXTENSIONS, WRITABLE_VIDEO_EXTENSIONS, ffmpeg_exe, run_ffmpeg
from .images import WRITABLE_IMAGE_EXTENSIONS, describe_image, over_white, read_image, to_depth, write_image
from .probing import VideoInfo, _read_header, check_readable_file, decode_errors, probe, probe_picture
from .reading import (FolderReader, FrameSelection, FrameSource, SourceInfo, VideoReader, bad_frames, is_sequence_path,
                      is_video_path, list_frames, open_source, parse_position, parse_size, probe_sequence,
                      read_frames_json, resize, sidecar_for, split_alpha)
from .writing import (DEFAULT_NAMING, IMAGE_NAME_EXTENSIONS, FolderWriter, FrameTarget, check_target, copy_frames,
                      frame_target, frames_json, open_sink, publish_sequence, replace_path)

__all__ = [
    'DEFAULT_FOLDER_FPS', 'FRAMES_JSON', 'VIDEO_EXTENSIONS', 'WRITABLE_VIDEO_EXTENSIONS', 'ffmpeg_exe',
    'run_ffmpeg', 'VideoInfo', '_read_header', 'check_readable_file', 'decode_errors', 'probe', 'probe_picture',
    'WRITABLE_IMAGE_EXTENSIONS', 'describe_image', 'over_white', 'read_image', 'to_depth', 'write_image',
    'FolderReader', 'FrameSelection', 'FrameSource', 'SourceInfo', 'VideoReader', 'bad_frames',
    'is_sequence_path', 'is_video_path', 'list_frames', 'open_source', 'parse_position', 'parse_size',
    'probe_sequence', 'read_frames_json', 'resize', 'sidecar_for', 'split_alpha', 'CODECS', 'Codec',
    'EncodeOptions', 'FrameSink', 'VideoWriter', 'check_output', 'concat_videos', 'ensure_writable_dir',
    'passthrough_args', 'DEFAULT_NAMING', 'FolderWriter', 'FrameTarget', 'IMAGE_NAME_EXTENSIONS', 'check_target',
    'copy_frames', 'frame_target', 'frames_json', 'open_sink', 'publish_sequence', 'replace_path'
]
