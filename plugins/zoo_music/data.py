"""Music datasets, read offline from music21's corpus and parsed once into zoo's cache folder.

    bach-chorales  Bach's four-part chorales as piano rolls (frames × 88 keys), moved to C major / A minor
    folk-abc       O'Neill's 1850 Irish tunes as ABC text, one tune per paragraph (a text dataset)

Splits are fixed by piece: a piece is a test piece when sha256 of its name falls in the first
TEST_FRACTION (zoo.data.own.held_out), so adding or dropping pieces never moves the others.
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from zoo.config import DataConfig
from zoo.data.own import held_out
from zoo.data.prepared import manifest_key
from zoo.data.spec import DatasetSpec, cache_dir
from zoo.data.tensors import TextData
from zoo.errors import UsageError, ZooError
from zoo.progress import Progress
from zoo.samples import atomic_write_bytes
from zoo_music import scores, tunes

CHORALE_TEST_FRACTION = 0.2  # about JSB Chorales' share (77 of 382 pieces)
TUNE_TEST_FRACTION = 0.1
SPLITS = ("train", "test")


@dataclass
class MusicDataConfig(DataConfig):
    """Piano-roll datasets: the time grid, and optionally your own scores instead of the chorales."""

    frames_per_quarter: Literal[1, 2, 4] = 1  # 1: quarter-note frames, JSB Chorales' grid and benchmark
    max_pieces: int | None = None  # only the first N files by name (quick tests); None: every one
    path: str = ""  # a folder of your own scores (.mxl .musicxml .xml .mid .midi .abc .krn): unreadable ones are skipped and counted

    def __post_init__(self) -> None:
        if self.max_pieces is not None and self.max_pieces < 2:
            raise UsageError(f"data.max_pieces must be at least 2 (a train and a test piece), got {self.max_pieces}")


@dataclass
class Pieces:
    """Whole pieces as piano rolls: every piece's frames one after another, and where each starts."""

    rolls: Tensor  # F×88 uint8, 1 where a key sounds
    starts: Tensor  # P+1 int64: piece i is rolls[starts[i]:starts[i + 1]]
    names: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> Tensor:
        return self.starts[1:] - self.starts[:-1]  # P frames per piece

    def piece(self, i: int) -> Tensor:
        return self.rolls[int(self.starts[i]) : int(self.starts[i + 1])]  # T×88

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        """Pieces `idx` zero-padded to the longest: `x` N×T×88 float, `mask` N×T (True on real frames)."""
        lengths = self.lengths[idx]
        steps = torch.arange(int(lengths.max()), device=self.rolls.device)
        mask = steps < lengths[:, None]  # N×T
        rows = (self.starts[idx][:, None] + steps).clamp(max=len(self.rolls) - 1)
        return {"x": self.rolls[rows].float() * mask[..., None], "mask": mask}

    def to(self, device: torch.device) -> "Pieces":
        return Pieces(self.rolls.to(device), self.starts.to(device), self.names, self.info)


# ---- bach-chorales (and your own scores) --------------------------------------------------------
def load_chorales(folder: Path, split: str, config: MusicDataConfig) -> Pieces:
    """The split's pieces from the parsed cache (parsing first when there is none)."""
    if split not in SPLITS:
        raise UsageError(f"dataset {config.dataset!r} has splits train and test, not {split!r}")
    parsed = parsed_rolls(config)
    names = [str(n) for n in parsed["names"]]
    starts = parsed["starts"]
    keep = [i for i, name in enumerate(names) if held_out(name, CHORALE_TEST_FRACTION) == (split == "test")]
    if not keep:
        raise UsageError(f"the {split} split of {config.dataset} is empty ({len(names)} pieces in all); raise data.max_pieces or add scores")
    rolls = [parsed["rolls"][starts[i] : starts[i + 1]] for i in keep]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rolls])])
    info = {
        "split": split, "pieces": len(keep), "frames": int(offsets[-1]), "keys": scores.KEYS, "lowest": scores.LOWEST,
        "frames_per_quarter": config.frames_per_quarter, "skipped_files": int(parsed["skipped"]),
    }
    return Pieces(torch.from_numpy(np.concatenate(rolls)), torch.from_numpy(offsets).long(), [names[i] for i in keep], info)


def chorale_files() -> list[Path]:
    """music21's Bach scores (MusicXML and kern; its roman-numeral analyses are not scores), by name."""
    m21 = scores.music21()
    return sorted((Path(p) for p in m21.corpus.getComposer("bach") if Path(p).suffix in (".mxl", ".xml", ".krn")), key=lambda p: p.name)


def score_files(root: Path) -> list[Path]:
    """Your own scores under `root`, by relative path; a single file is read as it is."""
    if not root.exists():
        raise UsageError(f"data.path {root}: no such file or folder")
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in scores.SCORE_EXTS)
    if not files:
        raise UsageError(f"no score files ({' '.join(scores.SCORE_EXTS)}) under {root}")
    return files


def parsed_rolls(config: MusicDataConfig) -> dict[str, np.ndarray]:
    """Every piece's roll (`names`, `rolls` F×88, `starts` P+1, and counts of files `skipped`, of
    chorales not in four parts, of `duplicates` dropped), from the cache when its files and settings
    are unchanged; parsed with music21 (a minute for the chorales) otherwise."""
    own = Path(config.path).expanduser() if config.path else None
    files = score_files(own) if own else chorale_files()
    files = files[: config.max_pieces] if config.max_pieces else files
    settings = {"source": str(own.resolve()) if own else "music21:bach", "frames_per_quarter": config.frames_per_quarter, "transpose": "C major / A minor", "version": 2}
    entry = cache_dir() / "music" / f"rolls-{manifest_key(files, settings)[:24]}.npz"
    if entry.is_file():
        with np.load(entry, allow_pickle=False) as cached:
            return dict(cached)
    names, rolls, failed, not_four, duplicates, seen = [], [], [], 0, 0, set()
    what = f"parsing the scores under {own}" if own else "parsing music21's Bach chorales (once; cached)"
    with Progress(len(files), what, "files", delay=2.0) as progress:
        for file in progress.each(files):
            try:
                score = scores.read_score(file)
            except ZooError as err:
                if own is not None and own.is_file():
                    raise
                failed.append(str(err))
                continue
            if own is None and len(score.parts) != 4:  # chorales with instrumental parts besides S, A, T and B
                not_four += 1
                continue
            roll = scores.score_roll(score, config.frames_per_quarter, scores.key_shift(score))
            digest = hashlib.sha256(roll.tobytes() + str(roll.shape).encode()).hexdigest()
            if digest in seen:  # the corpus holds some harmonisations twice, under two catalogue numbers
                duplicates += 1
                continue
            seen.add(digest)
            names.append(file.relative_to(own).as_posix() if own and own.is_dir() else file.stem)
            rolls.append(roll)
    if not rolls:
        raise ZooError(f"none of the {len(files)} score files could be read" + (f" (first: {failed[0]})" if failed else ""))
    if failed:
        warnings.warn(f"skipped {len(failed)} unreadable score file(s) of {len(files)}; first: {failed[0]}", stacklevel=2)
    out = {
        "names": np.array(names), "rolls": np.concatenate(rolls), "starts": np.concatenate([[0], np.cumsum([len(r) for r in rolls])]),
        "skipped": np.array(len(failed)), "not_four_part": np.array(not_four), "duplicates": np.array(duplicates),
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    atomic_write_bytes(entry, buf.getvalue())
    return out


# ---- folk-abc ------------------------------------------------------------------------------------
def load_folk_abc(folder: Path, split: str, config: DataConfig) -> TextData:
    """The split's tunes, each followed by a blank line: what the text family trains its character model on."""
    if split not in SPLITS:
        raise UsageError(f"dataset {config.dataset!r} has splits train and test, not {split!r}")
    picked = [tune for number, tune in oneills_tunes() if held_out(f"oneills1850/{number}", TUNE_TEST_FRACTION) == (split == "test")]
    text = "".join(tune + "\n\n" for tune in picked)
    return TextData(text, {"split": split, "tunes": len(picked), "chars": len(text)})


def oneills_tunes() -> list[tuple[str, str]]:
    """(number, cleaned ABC) of each of O'Neill's tunes, cached as JSON after the first read."""
    entry = cache_dir() / "music" / f"oneills1850-v{tunes.VERSION}.json"
    if entry.is_file():
        return [tuple(pair) for pair in json.loads(entry.read_text())]  # type: ignore[misc]
    files = sorted(Path(p) for p in scores.music21().corpus.getPaths(fileExtensions=["abc"]) if Path(p).parent.name == "oneills1850")
    if not files:
        raise ZooError("music21's corpus has no oneills1850 collection", hint="reinstall music21 (pip install 'genzoo[music]')")
    found = tunes.collection([f.read_text(encoding="utf-8", errors="replace") for f in files])
    atomic_write_bytes(entry, json.dumps(found).encode())
    return found


BACH_CHORALES = DatasetSpec(
    name="bach-chorales",
    modality="music",
    description="Bach's four-part chorales from music21's corpus as piano rolls (quarter-note frames × 88 keys) in C major / A minor; split by a hash of each piece's name",
    files={},  # read from the installed music21 corpus: nothing to find or download
    loader="zoo_music.data:load_chorales",
    config=MusicDataConfig,
    license="music21 corpus (BSD; the chorales are public domain)",
)

FOLK_ABC = DatasetSpec(
    name="folk-abc",
    modality="text",
    description="O'Neill's Music of Ireland (1850 tunes, music21's corpus) as ABC text, one tune per paragraph; split by tune number",
    files={},
    loader="zoo_music.data:load_folk_abc",
    license="music21 corpus (BSD; transcriptions by Norbert Paap and others, the tunes public domain)",
)
