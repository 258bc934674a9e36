"""Your own data: a folder of images, a text corpus or a folder of audio clips, read as a dataset.

`zoo train PRESET --data PATH` swaps the preset's `data.dataset` for the source of its family's
modality (`image-folder`, `text-files`, `audio-folder`) and records `data.path`; everything else
(sample, evaluate, resume) then finds the files through `load_dataset` like any registered dataset.
Images and audio are decoded once into a prepared cache (zoo.data.prepared); text is read as is.
"""
from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Literal

import torch

from zoo.config import DataConfig
from zoo.data.spec import DatasetSpec, ImageDataConfig
from zoo.data.tensors import CHUNK_CHARS, TensorData, TextData
from zoo.errors import UsageError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
ARRAY_EXTS = (".npz", ".npy")
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")
TEXT_EXTS = (".txt",)
TEST_DIRS = ("test", "val")
AHEAD = 16  # prefetched batches kept at most (a step with grad_accum micro-batches hints that many)


@dataclass
class ImageFolderConfig(ImageDataConfig):
    """A folder of images (or an .npz/.npy array file) given with `--data PATH`."""

    path: str = ""
    channels: Literal[1, 3, "auto"] = "auto"  # auto: 3 when any image has colour, else 1
    test_fraction: float = 0.1  # held out by a hash of each file's relative path (without train/ and test/ folders)
    flip: bool = False  # random horizontal flips at batch time, on the device
    strict: bool = False  # a corrupt file is an error instead of a skipped file
    memory_limit_mb: int | None = None  # prepared data larger than this streams from the memory-mapped cache (default: half the free RAM)


@dataclass
class TextFilesConfig(DataConfig):
    """A UTF-8 .txt file or a folder of them given with `--data PATH`."""

    path: str = ""
    glob: str = "**/*.txt"  # which files of a folder make the corpus (sorted, joined by newlines)
    test_fraction: float = 0.1  # without train.txt/val.txt: the last 10% of characters validate
    encoding_errors: Literal["strict", "replace"] = "strict"  # replace: undecodable bytes become U+FFFD


@dataclass
class AudioFolderConfig(DataConfig):
    """A folder of audio clips given with `--data PATH`: mono, resampled, peak-normalised, padded/trimmed."""

    path: str = ""
    sample_rate: int = 8000
    clip_samples: int = 8192
    label_regex: str = ""  # e.g. ^(\d)_ (FSDD's names); empty: labels from first-level subfolders
    speaker_regex: str = ""  # e.g. ^\d_([a-z]+)_ (FSDD's names): speaker ids `speaker` for voice conversion
    test_fraction: float = 0.1
    strict: bool = False
    memory_limit_mb: int | None = None  # as for images: larger prepared data streams from the cache


SOURCES = {"image": "image-folder", "text": "text-files", "audio": "audio-folder", "video": "video-folder"}
PAIRED = "paired-folder"  # zoo.data.pairs: image pairs for translation


def source_overrides(modality: str, path: str | os.PathLike[str], dataset: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `data.*` overrides that make a preset of `modality` (on `dataset`, with the user's `overrides`) read
    PATH (checked before any work). Image pairs (source/ and target/ folders, `data.layout`, a paired preset)
    are read as `paired-folder`, which brings its own sources (no `data.degrade`). Modalities without a core
    source (music) use the preset's dataset when it reads `data.path` itself."""
    import dataclasses

    from zoo.data import get_spec

    from zoo.data.records import is_records, open_records

    folder = Path(path).expanduser()
    if is_records(str(folder)):  # Parquet, a save_to_disk folder, tar shards: checked here, their columns when decoded
        open_records(str(folder))
        return {"data.dataset": SOURCES[modality], "data.path": str(folder.parent.resolve() / folder.name)}
    if not folder.exists():
        raise UsageError(f"--data {path}: no such file or folder")
    if modality not in SOURCES:
        spec = get_spec(dataset) if dataset else None
        if spec is None or "path" not in {f.name for f in dataclasses.fields(spec.config)}:
            raise UsageError(f"--data is not supported for {modality} presets on {dataset!r}: its dataset does not read your own files")
        return {"data.path": str(folder.resolve())}
    kind = detect_modality(folder)
    if kind is not None and kind != modality and not (modality == "video" and kind == "image"):  # GIFs and frame folders are clips too
        raise UsageError(f"--data {path} holds {kind} files but this preset's family is {modality}; pick {'an' if kind[0] in 'aeiou' else 'a'} {kind} preset (`zoo list`)")
    overrides = overrides or {}
    if "unpaired" in (dataset, overrides.get("data.dataset")):
        raise UsageError(f"--data {path}: this preset reads two unpaired domains; name them instead: --set data.source=DATASET_OR_FOLDER --set data.target=DATASET_OR_FOLDER")
    paired = all((folder / side).is_dir() for side in ("source", "target")) or "data.layout" in overrides
    if modality == "image" and (paired or PAIRED in (dataset, overrides.get("data.dataset"))):
        return {"data.dataset": PAIRED, "data.path": str(folder.resolve()), "data.degrade": ""}
    return {"data.dataset": SOURCES[modality], "data.path": str(folder.resolve())}


def detect_modality(path: Path) -> str | None:
    """What `path` mostly holds, by extension; None when nothing is recognised."""
    names = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    counts = {"image": 0, "text": 0, "audio": 0}
    for p in names:
        ext = p.suffix.lower()
        kind = "image" if ext in IMAGE_EXTS + ARRAY_EXTS else "audio" if ext in AUDIO_EXTS else "text" if ext in TEXT_EXTS else None
        if kind:
            counts[kind] += 1
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


# ---- files, splits and labels ---------------------------------------------------------------
def list_files(root: Path, exts: tuple[str, ...]) -> list[Path]:
    """Files under `root` with one of `exts`, sorted by relative path; one clear error when there are none."""
    if not root.exists():
        raise UsageError(f"data.path {root}: no such file or folder")
    if root.is_file():
        return [root]
    everything = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # hidden folders (.git, .cache) are not data
        everything += [os.path.join(folder, n) for n in names if not n.startswith(".")]
    everything = [Path(p) for p in sorted(everything, key=lambda p: relative(root, p).split("/"))]
    found = [p for p in everything if p.suffix.lower() in exts]
    if not found:
        seen = sorted({p.suffix.lower() or p.name for p in everything})
        what = f"found only {', '.join(seen[:8])}" if seen else "the folder is empty"
        raise UsageError(f"no {'/'.join(e.lstrip('.') for e in exts)} files under {root} ({what})")
    return found


def split_files(root: Path, files: list[Path], split: str, test_fraction: float) -> tuple[Path, list[Path]]:
    """The files of `split` and the folder their labels are read under: explicit train/ and test/ (or
    val/) folders when present, else a deterministic hold-out by a hash of each relative path."""
    if split not in ("train", "test"):
        raise UsageError(f"own data has the splits train and test, not {split!r}")
    test_dir = next((root / d for d in TEST_DIRS if (root / d).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        base = root / "train" if split == "train" else test_dir
        inside = os.path.join(base, "")
        return base, [f for f in files if str(f).startswith(inside)]
    if not 0 <= test_fraction < 1:
        raise UsageError(f"data.test_fraction must be in [0, 1), got {test_fraction}")
    picked = [f for f in files if (held_out(relative(root, f), test_fraction) == (split == "test"))]
    return root, picked


def relative(base: Path, file: Path | str) -> str:
    """`file`'s path under `base` with / separators (string work: pathlib costs seconds on 100k files)."""
    return str(file)[len(str(base)) + 1 :].replace(os.sep, "/")


def held_out(relpath: str, fraction: float) -> bool:
    """Whether a file is in the test split: the first 8 bytes of sha256(relative path) as a fraction."""
    return int.from_bytes(hashlib.sha256(relpath.encode()).digest()[:8], "big") / 2**64 < fraction


def class_names(base: Path, files: list[Path], regex: str = "") -> list[str] | None:
    """Class names, sorted: first-level subfolders of `base` (or `regex` group 1 of the file name) when there are several."""
    if regex:
        return sorted({label_of(base, f, regex) for f in files})
    names = sorted({rel.split("/", 1)[0] for rel in (relative(base, f) for f in files) if "/" in rel})
    return names if len(names) > 1 else None


def select(root: Path, everything: list[Path], split: str, test_fraction: float, regex: str = "") -> tuple[Path, list[Path], list[str] | None]:
    """(label folder, the split's files, class names); classes come from the training split, so both splits agree."""
    base, files = split_files(root, everything, split, test_fraction)
    if not files:
        raise UsageError(f"the {split} split of {root} is empty; add files or change data.test_fraction")
    train_base, train_files = (base, files) if split == "train" else split_files(root, everything, "train", test_fraction)
    return base, files, class_names(train_base, train_files, regex) if train_files else None


def labels(base: Path, paths: list[str], classes: list[str], regex: str = "") -> torch.Tensor:
    """Class indices (int64 N) of decoded files; a class the training split lacks is an error."""
    names = [label_of(base, p, regex) for p in paths]
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise UsageError(f"{', '.join(unknown[:3])} under {base} is not among the training classes ({', '.join(classes)}); "
                         "put every file in a class folder present in the training split")
    return torch.tensor([classes.index(n) for n in names], dtype=torch.int64)


def label_of(base: Path, file: Path | str, regex: str = "") -> str:
    if regex:
        name = os.path.basename(file)
        match = re.search(regex, name)
        if not match:
            raise UsageError(f"data.label_regex {regex!r} does not match {name}; fix the pattern or the file name")
        return match.group(1) if match.groups() else match.group(0)
    return relative(base, file).split("/", 1)[0]


# ---- images ---------------------------------------------------------------------------------
def load_images(folder: Path, split: str, config: ImageFolderConfig) -> TensorData:
    """Images as uint8 N×C×S×S (S = data.image_size), labels `y` from class subfolders when there are several."""
    from zoo.data import records
    from zoo.data.prepared import prepare

    root = Path(config.path)
    if records.is_records(config.path):
        return records.load_images(split, config)
    if root.suffix.lower() in ARRAY_EXTS:
        return load_array(root, split, config)
    everything = list_files(root, IMAGE_EXTS)
    base, files, classes = select(root, everything, split, config.test_fraction)
    channels = config.channels if config.channels != "auto" else auto_channels(everything)  # both splits alike
    settings = {"kind": "image", "size": config.image_size, "channels": channels}
    arrays = prepare(files, settings, decode_image, strict=config.strict)
    info: dict[str, Any] = {"channels": channels, "image_size": config.image_size}
    fields, stream = {"x": arrays["x"]}, streams(arrays["x"], config.memory_limit_mb)
    if classes:
        fields["y"] = labels(base, arrays["paths"], classes)
        info.update(num_classes=len(classes), classes=classes)
    info["source"] = {"path": str(root), "manifest": arrays["key"], "decode": settings}
    return own_data(fields, info, flip=config.flip, stream=stream)


def auto_channels(files: list[Path]) -> int:
    """3 when any image has colour (by its mode; palettes are checked for grey), else 1; remembered per
    file manifest, since finding that a folder is all grey means opening every file."""
    from zoo.data.prepared import manifest_key, remembered

    return int(remembered(f"channels-{manifest_key(files, {'kind': 'channels'})}", lambda: scan_channels(files)))


def scan_channels(files: list[Path]) -> int:
    from PIL import Image

    for path in files:
        try:
            with Image.open(path) as img:
                if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
                    continue
                if img.mode == "P":
                    rgb = img.convert("RGB")
                    r, g, b = rgb.split()
                    if r.tobytes() == g.tobytes() == b.tobytes():
                        continue
                return 3
        except OSError:
            continue  # a corrupt file is reported by the decode
    return 1


def decode_image(path: str, settings: dict[str, Any]) -> Any:
    """One file -> uint8 C×S×S: first frame, alpha composited on white, shorter side centre-cropped, resized."""
    return square(read_pixels(path, settings["channels"]), settings["size"])


def read_pixels(path: str, channels: int) -> Any:
    """One file's first frame as uint8 H×W×C (C = `channels`), alpha composited on white."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)
        img.load()
        if img.mode in ("RGBA", "LA", "P", "PA") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        img = img.convert("L" if channels == 1 else "RGB")
        pixels = np.array(img, dtype=np.uint8)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def square(pixels: Any, size: int) -> Any:
    """uint8 H×W×C pixels -> uint8 C×size×size: the shorter side centre-cropped, then resized."""
    import numpy as np

    from zoo.data.idx import resize_uint8

    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = torch.from_numpy(np.ascontiguousarray(pixels[top : top + side, left : left + side].transpose(2, 0, 1)))
    return (crop if side == size else resize_uint8(crop[None], size)[0]).numpy()


def load_array(path: Path, split: str, config: ImageFolderConfig) -> TensorData:
    """An .npy (images) or .npz (`x`/`images` and optional `y`/`labels`) array: N×H×W or N×H×W×C, uint8 or floats in [0, 1]."""
    import numpy as np

    from zoo.data.idx import resize_uint8

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UsageError(f"{path} is not a readable numpy array file ({err})") from None
    arrays = {"x": loaded} if isinstance(loaded, np.ndarray) else {k: loaded[k] for k in loaded.files}
    x = next((arrays[k] for k in ("x", "images") if k in arrays), None)
    if x is None or x.ndim not in (3, 4):
        raise UsageError(f"{path} needs an image array N×H×W or N×H×W×C (named x or images in an .npz)")
    y = next((arrays[k] for k in ("y", "labels") if k in arrays), None)
    if x.dtype != np.uint8:
        if x.min() < 0 or x.max() > 1:
            raise UsageError(f"{path}: float images must lie in [0, 1], found [{x.min()}, {x.max()}]")
        x = np.round(x * 255).astype(np.uint8)
    images = torch.from_numpy(x if x.ndim == 4 else x[..., None]).permute(0, 3, 1, 2).contiguous()  # N×C×H×W
    test = torch.tensor([held_out(str(i), config.test_fraction) for i in range(len(images))])
    keep = test if split == "test" else ~test
    images = images[keep]
    channels = images.shape[1] if config.channels == "auto" else config.channels
    if channels != images.shape[1]:
        images = images.float().mean(1, keepdim=True).round().to(torch.uint8) if channels == 1 else images.expand(-1, 3, -1, -1).contiguous()
    side = min(images.shape[-2:])
    top, left = (images.shape[-2] - side) // 2, (images.shape[-1] - side) // 2
    images = images[..., top : top + side, left : left + side]
    if side != config.image_size:
        images = resize_uint8(images, config.image_size)
    info: dict[str, Any] = {"channels": int(channels), "image_size": config.image_size}
    fields = {"x": images}
    if y is not None:
        labels = torch.from_numpy(np.asarray(y).astype(np.int64))[keep]
        fields["y"] = labels
        info["num_classes"] = int(torch.from_numpy(np.asarray(y).astype(np.int64)).max()) + 1
    return own_data(fields, info, flip=config.flip)


def streams(x: Any, limit_mb: int | None) -> bool:
    """Whether prepared data `x` is read batch by batch from its memory-mapped cache entry."""
    import numpy as np

    from zoo.data.prepared import memory_limit

    limit = memory_limit() if limit_mb is None else limit_mb << 20
    return isinstance(x, np.memmap) and x.nbytes > limit


def own_data(fields: dict[str, Any], info: dict[str, Any], *, flip: bool = False, stream: bool = False) -> "OwnTensorData":
    """Tensors from arrays: memory-mapped (read per batch) when streaming, else loaded into memory now."""
    import numpy as np

    tensors = {k: torch.from_numpy(v if stream or not isinstance(v, np.memmap) else np.array(v)) if isinstance(v, np.ndarray) else v
               for k, v in fields.items()}
    return OwnTensorData(tensors, info, flip=flip, stream=stream)


@dataclass
class OwnTensorData(TensorData):
    """TensorData with two extras: `flip` (images, and paired sources with them, flipped left-right with p = 0.5, on the
    device, drawn from the global RNG that checkpoints save, so resume stays exact) and `stream`
    (fields stay memory-mapped on the CPU and only each batch's rows are read and moved to `device`;
    same indices, same values, so training is bit-identical to the in-memory path).

    Streamed, `prefetch(idx)` (the trainer's hint for the next step) reads those rows on a background
    thread while the current step computes; `batch(idx)` then takes them instead of reading again."""

    flip: bool = False
    stream: bool = False
    device: torch.device = torch.device("cpu")

    def __post_init__(self) -> None:
        self._ahead: dict[bytes, Future[dict[str, torch.Tensor]]] = {}
        self._reader: ThreadPoolExecutor | None = None

    def prefetch(self, idx: torch.Tensor) -> None:
        if not self.stream:
            return
        rows = idx.cpu()
        key = rows.numpy().tobytes()
        if key not in self._ahead:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(1, thread_name_prefix="zoo-prefetch")
            self._ahead[key] = self._reader.submit(self._read, rows)
            while len(self._ahead) > AHEAD:  # hints never taken (past the run's last step) are dropped
                self._ahead.pop(next(iter(self._ahead)))

    def _read(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rows of every field, read from the memory map (torch releases the GIL while copying)."""
        return {name: tensor[rows] for name, tensor in self.fields.items()}

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.stream:
            rows = idx.cpu()
            ahead = self._ahead.pop(rows.numpy().tobytes(), None)
            picked = ahead.result() if ahead is not None else self._read(rows)
            out = {}
            for name, tensor in picked.items():
                tensor = tensor.to(self.device)
                out[name] = tensor.float().div_(255) if tensor.dtype == torch.uint8 else tensor
        else:
            out = super().batch(idx)
        out = {k: v.float() if v.dtype == torch.float16 else v for k, v in out.items()}  # audio is float16 in the cache
        if self.flip:
            flip = torch.rand(len(out["x"]), device=out["x"].device) < 0.5
            for name in ("x", "source"):  # a paired source (zoo.data.pairs) flips with its target
                if name in out:
                    out[name] = torch.where(flip[:, None, None, None], out[name].flip(-1), out[name])  # N×C×H×W
        return out

    def to(self, device: torch.device) -> "OwnTensorData":
        fields = self.fields if self.stream else {k: v.to(device) for k, v in self.fields.items()}
        return OwnTensorData(fields, self.info, flip=self.flip, stream=self.stream, device=torch.device(device))


# ---- text -----------------------------------------------------------------------------------
def load_text(folder: Path, split: str, config: TextFilesConfig) -> "TextFiles":
    """A .txt file or a folder's `data.glob` files; train.txt + val.txt (or test.txt) are the splits when
    present, else the last `data.test_fraction` of the characters validate. The files are checked (UTF-8,
    not empty) and counted in one streaming pass, remembered per file manifest; the text is read again
    only to tokenize it."""
    from zoo.data import records

    root = Path(config.path)
    if split not in ("train", "test"):
        raise UsageError(f"own data has the splits train and test, not {split!r}")
    if records.is_records(config.path):
        return records.load_text(split, config)
    if root.is_dir() and (root / "train.txt").is_file() and any((root / f"{d}.txt").is_file() for d in TEST_DIRS):
        file = root / "train.txt" if split == "train" else next(root / f"{d}.txt" for d in TEST_DIRS if (root / f"{d}.txt").is_file())
        files, fraction = [file], 0.0
    elif root.is_dir():
        files = sorted(p for p in root.glob(config.glob) if p.is_file())
        if not files:
            raise UsageError(f"no files match data.glob={config.glob!r} under {root}; {glob_hint(root)}")
        fraction = config.test_fraction
    else:
        files, fraction = list_files(root, TEXT_EXTS + (root.suffix.lower(),)), config.test_fraction
    from zoo.data.prepared import remembered

    source = text_source(root, files)
    corpus = TextFiles(files, config.encoding_errors)
    total, blank = remembered(f"text-{source['manifest']}-{config.encoding_errors}", corpus.count)  # both splits, every run: one pass
    if blank:
        raise UsageError(f"{files[0] if len(files) == 1 else root} holds no text; a corpus needs some")
    cut = int(total * (1 - fraction))
    span = (0, cut) if split == "train" or fraction == 0 else (cut, total)
    return TextFiles(files, config.encoding_errors, span, {"split": split, "chars": span[1] - span[0], "source": source},
                     key=f"{source['manifest']}:{split}:{span[0]}:{span[1]}")


class TextFiles(TextData):
    """Characters `span` of some files joined by newlines, read piece by piece (pieces end at line ends),
    so a corpus larger than memory trains from a memory-mapped token file (zoo_text's `prepare`)."""

    def __init__(self, files: list[Path], errors: str, span: tuple[int, int] = (0, 0), info: dict[str, Any] | None = None, key: str | None = None):
        self.files, self.errors, self.span, self.info, self.key = files, errors, span, info or {}, key

    def __repr__(self) -> str:
        return f"TextFiles({len(self.files)} files, characters {self.span[0]}:{self.span[1]})"

    @property
    def text(self) -> str:  # type: ignore[override]
        """The whole split in memory (for small consumers; tokenizing uses `chunks`)."""
        return "".join(self.chunks())

    def __len__(self) -> int:
        return self.span[1] - self.span[0]

    def count(self) -> tuple[int, bool]:
        """(characters of the joined corpus, whether it is only whitespace), checking the UTF-8."""
        total, blank = 0, True
        for piece in self.pieces():
            total += len(piece)
            blank = blank and not piece.strip()
        return total, blank

    def chunks(self) -> Iterator[str]:
        first, last = self.span
        at = 0
        for piece in self.pieces():
            lo, hi = max(first - at, 0), min(last - at, len(piece))
            if lo < hi:
                yield piece[lo:hi]
            at += len(piece)
            if at >= last:
                return

    def pieces(self) -> Iterator[str]:
        """The files' text joined by newlines, in pieces of about CHUNK_CHARS ending at a line end."""
        import codecs

        carry = ""
        for i, path in enumerate(self.files):
            decoder = codecs.getincrementaldecoder("utf-8")(errors=self.errors)
            offset = 0
            with open(path, "rb") as f:
                while block := f.read(CHUNK_CHARS):
                    try:
                        carry += decoder.decode(block)
                    except UnicodeDecodeError as err:
                        raise UsageError(f"{path} is not valid UTF-8 at byte {offset + err.start}; convert it, "
                                         "or pass --set data.encoding_errors=replace") from None
                    offset += len(block)
                    cut = carry.rfind("\n") + 1
                    if len(carry) >= CHUNK_CHARS and cut:
                        yield carry[:cut]
                        carry = carry[cut:]
            try:
                carry += decoder.decode(b"", final=True)
            except UnicodeDecodeError as err:
                raise UsageError(f"{path} is not valid UTF-8 at byte {offset + err.start} (a truncated character); "
                                 "convert it, or pass --set data.encoding_errors=replace") from None
            carry += "\n" if i < len(self.files) - 1 else ""
        if carry:
            yield carry


def glob_hint(root: Path) -> str:
    """What a folder holds instead, and a data.glob that reads its commonest kind of file:
    "found 17 files without an extension; try --set 'data.glob=*'"."""
    from collections import Counter

    files = [p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    if not files:
        return "the folder is empty"
    counts = Counter(p.suffix.lower() for p in files)
    found = ", ".join(f"{n} {f'{ext} files' if ext else 'files without an extension'}" for ext, n in counts.most_common(3))
    ext = counts.most_common(1)[0][0]
    nested = any(p.parent != root for p in files if p.suffix.lower() == ext)
    return f"found {found}; try --set 'data.glob={'**/' if nested else ''}*{ext}'"


def text_source(root: Path, files: list[Path]) -> dict[str, Any]:
    from zoo.data.prepared import manifest_key

    return {"path": str(root), "manifest": manifest_key(files, {"kind": "text"}), "files": len(files)}


# ---- audio ----------------------------------------------------------------------------------
def load_audio(folder: Path, split: str, config: AudioFolderConfig) -> TensorData:
    """Clips as float32 N×clip_samples in [-1, 1] (stored as float16 in the cache), labels `y` when there are classes."""
    from zoo.data import records
    from zoo.data.prepared import prepare

    root = Path(config.path)
    if records.is_records(config.path):
        return records.load_audio(split, config)
    if config.clip_samples <= 0 or config.sample_rate <= 0:
        raise UsageError("data.clip_samples and data.sample_rate must be positive integers")
    base, files, classes = select(root, list_files(root, AUDIO_EXTS), split, config.test_fraction, config.label_regex)
    settings = {"kind": "audio", "rate": config.sample_rate, "clip": config.clip_samples}
    arrays = prepare(files, settings, decode_audio, strict=config.strict)
    fields, stream = {"x": arrays["x"]}, streams(arrays["x"], config.memory_limit_mb)
    info: dict[str, Any] = {"sample_rate": config.sample_rate, "clip_samples": config.clip_samples, "num_classes": 0}
    if classes:
        fields["y"] = labels(base, arrays["paths"], classes, config.label_regex)
        info.update(num_classes=len(classes), classes=classes)
    if config.speaker_regex:  # speakers named by the training split's files, as classes are
        speakers = class_names(base, split_files(root, list_files(root, AUDIO_EXTS), "train", config.test_fraction)[1], config.speaker_regex) or []
        fields["speaker"] = labels(base, arrays["paths"], speakers, config.speaker_regex)
        info["speakers"] = speakers
    info["source"] = {"path": str(root), "manifest": arrays["key"], "decode": settings}
    data = own_data(fields, info, stream=stream)
    if not stream:  # in memory: float32 once, as the registered audio datasets hold it
        data.fields["x"] = data.fields["x"].float()
    return data


def decode_audio(path: str, settings: dict[str, Any]) -> Any:
    """One file -> float16 T: mixed to mono, resampled (polyphase), peak-normalised, padded or trimmed."""
    return fit_clip(*read_wave(path), settings)


def read_wave(source: str | IO[bytes]) -> tuple[int, Any]:
    """(sample rate, samples T or T×channels) of a file or an open binary stream: WAV with scipy, other
    formats with torchaudio's backend."""
    import numpy as np

    if source.lower().endswith(".wav") if isinstance(source, str) else source.read(4) == b"RIFF":
        from scipy.io import wavfile

        if not isinstance(source, str):
            source.seek(0)
        rate, pcm = wavfile.read(source)
        if pcm.dtype.kind in "iu":
            info = np.iinfo(pcm.dtype)
            pcm = (pcm.astype(np.float32) - (info.max + info.min + 1) / 2) / (info.max + 1 - (info.max + info.min + 1) / 2)
        return rate, pcm
    try:
        import torchaudio

        if not isinstance(source, str):
            source.seek(0)
        wave, rate = torchaudio.load(source)
    except Exception as err:  # noqa: BLE001 - any backend failure means "cannot decode this file here"
        raise ValueError(f"no audio backend decodes it ({type(err).__name__})") from None
    return rate, wave.numpy().T


def fit_clip(rate: int, pcm: Any, settings: dict[str, Any]) -> Any:
    """Samples -> float16 T at `settings["rate"]`: mixed to mono, resampled (polyphase), peak-normalised, padded or trimmed."""
    import numpy as np

    pcm = pcm.astype(np.float32)
    if pcm.ndim == 2:
        pcm = pcm.mean(axis=1)
    if rate != settings["rate"]:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(rate), settings["rate"])
        pcm = resample_poly(pcm, settings["rate"] // g, int(rate) // g).astype(np.float32)
    clip = np.zeros(settings["clip"], dtype=np.float32)
    part = pcm[: settings["clip"]]
    peak = float(np.abs(part).max()) if len(part) else 0.0
    clip[: len(part)] = part / peak if peak > 0 else part  # silence stays silence
    return clip.astype(np.float16)


# ---- the registered sources -----------------------------------------------------------------
def _spec(name: str, modality: Any, description: str, loader: str, config: type[DataConfig]) -> DatasetSpec:
    return DatasetSpec(name=name, modality=modality, description=description, files={}, loader=loader, config=config, source=True)


IMAGE_FOLDER = _spec("image-folder", "image", "your images: `--data FOLDER` (PNG/JPEG/WebP/BMP/TIFF/GIF, class subfolders) or an .npz/.npy array",
                     "zoo.data.own:load_images", ImageFolderConfig)
TEXT_FILES = _spec("text-files", "text", "your text: `--data FILE.txt` or a folder of .txt files (UTF-8; train.txt/val.txt or the last 10%)",
                   "zoo.data.own:load_text", TextFilesConfig)
AUDIO_FOLDER = _spec("audio-folder", "audio", "your clips: `--data FOLDER` of WAV (FLAC/OGG/MP3 if torchaudio decodes them), class subfolders",
                     "zoo.data.own:load_audio", AudioFolderConfig)

