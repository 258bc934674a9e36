"""Your own clips: `--data FOLDER` of video files (MP4, WebM, AVI, MOV, MKV with PyAV; GIF with Pillow) or of
frame folders (a folder whose images, sorted by name, are one clip's frames), decoded once into the prepared
cache (zoo.data.prepared) as uint8 N×T×C×S×S and streamed from its memory map beyond `memory_limit_mb`.

Each clip: frames picked at `fps` (by the source's own rate; GIF's frame durations), the first `frames` of
them kept, each frame's shorter side centre-cropped and resized to `image_size` (so clips of mixed sizes all
come out S×S, which the data summary states). A clip with fewer frames than `frames` is a usage error naming
it and the fix; an unreadable file is skipped with a count (`strict: true` makes it an error).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.config import DataConfig
from zoo.data.spec import DatasetSpec
from zoo.errors import UsageError

VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".gif")


@dataclass
class VideoFolderConfig(DataConfig):
    path: str = ""
    image_size: int = 64
    channels: Literal[1, 3] = 3
    frames: int = 16  # clip length kept from the start of each clip
    fps: float | None = None  # frames per second to resample to (None: every frame as stored)
    test_fraction: float = 0.1  # held out by a hash of each clip's relative path
    strict: bool = False
    memory_limit_mb: int | None = None
    degrade: str = ""  # per-frame degradations for video restoration (zoo.translation kinds that keep the size)

    def __post_init__(self) -> None:
        if self.frames < 2 or self.image_size < 4 or (self.fps is not None and self.fps <= 0):
            raise UsageError("data.frames must be >= 2, data.image_size >= 4 and data.fps positive")


def find_clips(root: Path) -> tuple[list[str], list[Path]]:
    """(clips: video files and frame folders, sorted by relative path; every file that makes them, for the cache key)."""
    from zoo.data.own import IMAGE_EXTS

    if not root.exists():
        raise UsageError(f"data.path {root}: no such file or folder")
    clips: list[str] = []
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names = sorted(n for n in names if not n.startswith("."))
        frames = [n for n in names if n.lower().endswith(IMAGE_EXTS) and not n.lower().endswith(".gif")]
        if frames:  # a frame folder: its images are one clip
            clips.append(folder)
            files += [Path(folder, n) for n in frames]
        for n in names:
            if n.lower().endswith(VIDEO_EXTS) and not (frames and not n.lower().endswith(".gif")):
                clips.append(os.path.join(folder, n))
                files.append(Path(folder, n))
    if not clips:
        raise UsageError(f"no clips under {root}: give MP4/WebM/AVI/MOV/MKV/GIF files or folders of frame images")
    return sorted(clips), files


def source_rate(path: str) -> float | None:
    """Frames per second the clip was stored at (None for frame folders: their frames are taken as they come)."""
    if os.path.isdir(path):
        return None
    if path.lower().endswith(".gif"):
        from PIL import Image, ImageSequence

        with Image.open(path) as img:
            durations = [f.info.get("duration", 100) or 100 for f in ImageSequence.Iterator(img)]
        return 1000.0 / float(np.mean(durations))
    import av

    with av.open(path) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else None


def decode_clip(path: str, settings: dict[str, Any]) -> np.ndarray:
    """One clip -> uint8 T×C×S×S: resampled to `fps`, the first `frames` frames, each centre-cropped and resized."""
    from zoo.data.own import square
    from zoo.video import read_clip

    clip = read_clip(path, settings["channels"])
    if settings["fps"]:
        rate = source_rate(path) or settings["fps"]
        picks = np.arange(0, len(clip), rate / settings["fps"]).round().astype(int)
        clip = clip[picks[picks < len(clip)]]
    if len(clip) < settings["frames"]:
        raise UsageError(f"{path} has {len(clip)} frame(s){' at ' + str(settings['fps']) + ' fps' if settings['fps'] else ''}, fewer "
                         f"than data.frames={settings['frames']}; set --set data.frames={len(clip)} or remove the clip")
    return np.stack([square(frame, settings["size"]) for frame in clip[: settings["frames"]]])


def load_videos(folder: Path, split: str, config: VideoFolderConfig) -> Any:
    """Clips as uint8 N×T×C×S×S (float in [0, 1] per batch)."""
    from zoo.data.own import held_out, own_data, relative, streams
    from zoo.data.prepared import prepare

    if split not in ("train", "test"):
        raise UsageError(f"own data has the splits train and test, not {split!r}")
    root = Path(config.path)
    clips, files = find_clips(root)
    picked = [c for c in clips if held_out(relative(root, c), config.test_fraction) == (split == "test")]
    if not picked:
        raise UsageError(f"the {split} split of {root} is empty ({len(clips)} clips in all); add clips or change data.test_fraction")
    settings = {"kind": "video", "size": config.image_size, "channels": config.channels, "frames": config.frames, "fps": config.fps, "split": split,
                "test_fraction": config.test_fraction}  # which clips the split holds is part of the key
    arrays = prepare(files, settings, decode_clip, strict=config.strict, items=(picked, lambda: iter(picked)))
    info: dict[str, Any] = {"channels": config.channels, "image_size": config.image_size, "frames": config.frames, "num_classes": 0,
                            "source": {"path": str(root), "manifest": arrays["key"], "decode": settings, "clips": len(arrays["paths"]),
                                       "note": f"every frame centre-cropped and resized to {config.image_size}×{config.image_size}"}}
    return own_data({"x": arrays["x"]}, info, stream=streams(arrays["x"], config.memory_limit_mb))


VIDEO_FOLDER = DatasetSpec(name="video-folder", modality="video", files={}, loader="zoo.data.video_folder:load_videos", config=VideoFolderConfig,
                           source=True, description="your clips: `--data FOLDER` of MP4/WebM/AVI/MOV/MKV/GIF files or folders of frame images")
