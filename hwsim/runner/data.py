"""Dataset loaders for the training runner: standard on-disk formats read into memory, no downloads.

Every loader returns a :class:`~torch.utils.data.TensorDataset` of ``(images, labels)``: images are
float32 ``N x 3 x H x W`` in ``[0, 1]`` (no normalisation, models do that themselves) and labels
are int64. Supported names are the keys of :data:`DATASETS`; all but ``digits`` (bundled with
scikit-learn) read a local directory that holds the dataset's standard files. A missing or corrupt
file raises :class:`~hwsim.errors.HwsimError` with one line naming the dataset, path and the
files expected.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset

from hwsim.datasets import DATASETS, DatasetInfo
from hwsim.errors import HwsimError

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "augment_batch",
    "default_augment",
    "load_dataset",
    "make_loader",
]

SPLITS = ("train", "test")


_AUGMENTED = frozenset({"cifar10", "cifar100", "stl10", "tinyimagenet"})


def default_augment(name: str) -> bool:
    """Whether crop+flip augmentation is customary for ``name`` (not for digit sets)."""
    return _info(name).name in _AUGMENTED


def _info(name: str) -> DatasetInfo:
    key = name.strip().lower()
    if key not in DATASETS:
        raise HwsimError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[key]


# --------------------------------------------------------------------------------------------
# Shared file helpers


def optional_import(module: str, package: str, needed_for: str):
    """Import an optional dependency of the runner, or fail with one line naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise HwsimError(
            f"{needed_for} needs the '{package}' package, which comes with hwsim's runner extra: "
            "pip install -e '.[runner]' (or pip install " + package + ")"
        ) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Source:
    """A dataset's root folder plus the one-line error messages that name its files."""

    def __init__(self, name: str, root: Path, expected: str) -> None:
        self.name, self.root, self.expected = name, root, expected

    def path(self, rel: str | Path) -> Path:
        """``root / rel``, which must exist."""
        p = self.root / rel
        if not p.exists():
            raise self.missing(p)
        return p

    def missing(self, path: Path) -> HwsimError:
        return HwsimError(f"{self.name}: missing {path} (expected {self.expected})")

    def corrupt(self, path: Path, why: str) -> HwsimError:
        return HwsimError(f"{self.name}: corrupt {path}: {why} (expected {self.expected})")


def _find_root(data_dir: Path, subdir: str | None, probes: tuple[str, ...]) -> Path:
    """``data_dir/subdir`` if that folder exists, else ``data_dir`` when it is the subfolder itself.

    When neither is recognisable the standard location is returned, so errors name it.
    """
    if subdir is None or (data_dir / subdir).is_dir():
        return data_dir if subdir is None else data_dir / subdir
    if data_dir.name == subdir or any((data_dir / p).exists() for p in probes):
        return data_dir
    return data_dir / subdir


def _read_bytes(src: _Source, rel: str | Path) -> tuple[Path, bytes]:
    path = src.path(rel)
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise src.corrupt(path, f"cannot read ({_one_line(exc)})") from exc


# Restricted unpickling: CIFAR pickles hold only dicts/lists/bytes and numpy arrays.
_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np.array(0).__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): np.array(0).__reduce__()[0],
    # Protocol-5 pickles of arrays (re-saved files) rebuild through numpy's _frombuffer.
    ("numpy.core.numeric", "_frombuffer"): np.arange(2).__reduce_ex__(5)[0],
    ("numpy._core.numeric", "_frombuffer"): np.arange(2).__reduce_ex__(5)[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"pickle references forbidden global {module}.{name}") from None


def _load_pickle(src: _Source, rel: str | Path) -> tuple[Path, dict[str, Any]]:
    """Safely unpickle ``rel`` into a dict whose keys are decoded to ``str``."""
    path, raw = _read_bytes(src, rel)
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise src.corrupt(path, str(exc)) from None
    except Exception as exc:  # any failure to parse means a damaged or foreign file
        raise src.corrupt(path, f"not a readable pickle ({_one_line(exc)})") from None
    if not isinstance(obj, dict):
        raise src.corrupt(path, f"pickle holds a {type(obj).__name__}, not a dict")
    return path, {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_labels(src: _Source, path: Path, labels: Any, n: int, lo: int, hi: int) -> np.ndarray:
    """``labels`` as an int64 vector of length ``n`` with values in ``[lo, hi]``."""
    try:
        y = np.asarray(labels).astype(np.int64, casting="unsafe").reshape(-1)
    except (TypeError, ValueError) as exc:
        raise src.corrupt(path, f"labels are not integers ({_one_line(exc)})") from None
    if y.shape[0] != n:
        raise src.corrupt(path, f"{y.shape[0]} labels for {n} images")
    if n and (y.min() < lo or y.max() > hi):
        raise src.corrupt(path, f"labels outside {lo}..{hi} (found {y.min()}..{y.max()})")
    return y


# --------------------------------------------------------------------------------------------
# Per-format readers: (source, split, limit) -> (uint8 N x 3 x H x W array, int64 labels)

Arrays = tuple[np.ndarray, np.ndarray]


def _read_cifar(src: _Source, files: list[str], label_key: str, classes: int, limit: int | None) -> Arrays:
    xs, ys, total = [], [], 0
    for rel in files:
        if xs and limit is not None and total >= limit:
            break
        path, d = _load_pickle(src, rel)
        data = d.get("data")
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise src.corrupt(path, "'data' is not an N x 3072 uint8 array")
        if label_key not in d:
            raise src.corrupt(path, f"no '{label_key}' entry")
        ys.append(_check_labels(src, path, d[label_key], data.shape[0], 0, classes - 1))
        xs.append(data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32))
        total += data.shape[0]
    return np.concatenate(xs), np.concatenate(ys)


def _cifar10(src: _Source, split: str, limit: int | None) -> Arrays:
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return _read_cifar(src, files, "labels", 10, limit)


def _cifar100(src: _Source, split: str, limit: int | None) -> Arrays:
    return _read_cifar(src, [split], "fine_labels", 100, limit)


def _svhn(src: _Source, split: str, limit: int | None) -> Arrays:
    loadmat = optional_import("scipy.io", "scipy", "SVHN's .mat files").loadmat

    path = src.path(f"{split}_32x32.mat")
    try:
        mat = loadmat(path, variable_names=["X", "y"])
    except Exception as exc:  # scipy raises many types for damaged .mat files
        raise src.corrupt(path, f"not a readable .mat file ({_one_line(exc)})") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise src.corrupt(path, "needs 'X' of shape 32x32x3xN and 'y'")
    labels = _check_labels(src, path, y, x.shape[3], 1, 10) % 10  # class 10 is the digit 0
    x = x[..., :limit]
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8), labels[: x.shape[3]]


def _stl10(src: _Source, split: str, limit: int | None) -> Arrays:
    xpath, xraw = _read_bytes(src, f"{split}_X.bin")
    ypath, yraw = _read_bytes(src, f"{split}_y.bin")
    per_image = 3 * 96 * 96
    if len(xraw) % per_image:
        raise src.corrupt(xpath, f"{len(xraw)} bytes is not a multiple of 3*96*96")
    n = len(xraw) // per_image
    labels = _check_labels(src, ypath, np.frombuffer(yraw, np.uint8), n, 1, 10) - 1
    x = np.frombuffer(xraw, np.uint8).reshape(n, 3, 96, 96)[:limit]  # column-major per image
    return np.ascontiguousarray(x.transpose(0, 1, 3, 2)), labels[: x.shape[0]]


def _tinyimagenet(src: _Source, split: str, limit: int | None) -> Arrays:
    """Tiny-ImageNet-200; class indices follow the sorted wnids (torchvision ImageFolder order)."""
    wpath, wraw = _read_bytes(src, "wnids.txt")
    wnids = sorted({w.strip() for w in wraw.decode("utf-8", "replace").splitlines() if w.strip()})
    if not wnids:
        raise src.corrupt(wpath, "lists no wnids")
    index = {w: i for i, w in enumerate(wnids)}
    items: list[tuple[Path, int]] = []
    if split == "train":
        for w in wnids:
            folder = src.path(Path("train") / w / "images")
            items += [(p, index[w]) for p in sorted(folder.glob("*.JPEG"))]
    else:
        apath, araw = _read_bytes(src, Path("val") / "val_annotations.txt")
        images = src.path(Path("val") / "images")
        for lineno, line in enumerate(araw.decode("utf-8", "replace").splitlines(), 1):
            fields = line.split("\t")
            if not line.strip():
                continue
            if len(fields) < 2 or fields[1].strip() not in index:
                raise src.corrupt(apath, f"line {lineno} is not 'filename<TAB>known wnid ...'")
            items.append((images / fields[0].strip(), index[fields[1].strip()]))
    if not items:
        raise src.corrupt(src.root / ("train" if split == "train" else "val"), "no images found")
    items = items[:limit]
    x = np.empty((len(items), 64, 64, 3), np.uint8)
    for i, (path, _) in enumerate(items):
        x[i] = _decode_image(src, path, 64)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.array([c for _, c in items], np.int64)


def _decode_image(src: _Source, path: Path, size: int) -> np.ndarray:
    """One image file decoded to ``size x size x 3`` uint8 RGB with Pillow."""
    Image = optional_import("PIL.Image", "pillow", "Tiny-ImageNet's JPEG files")

    if not path.exists():
        raise src.missing(path)
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except Exception as exc:  # Pillow raises assorted errors for damaged images
        raise src.corrupt(path, f"not a readable image ({_one_line(exc)})") from None
    if arr.shape != (size, size, 3):
        raise src.corrupt(path, f"image is {arr.shape[1]}x{arr.shape[0]}, not {size}x{size}")
    return arr


@dataclass(frozen=True)
class _Format:
    subdir: str | None
    probes: tuple[str, ...]  # files whose presence identifies the dataset's own folder
    expected: str
    read: Callable[[_Source, str, int | None], Arrays]


_FORMATS: dict[str, _Format] = {
    "cifar10": _Format(
        "cifar-10-batches-py",
        ("data_batch_1", "test_batch"),
        "the CIFAR-10 python batches: data_batch_1..5, test_batch",
        _cifar10,
    ),
    "cifar100": _Format("cifar-100-python", ("train", "test"), "the CIFAR-100 python files: train, test", _cifar100),
    "svhn": _Format(None, (), "the SVHN cropped-digit files: train_32x32.mat, test_32x32.mat", _svhn),
    "stl10": _Format(
        "stl10_binary",
        ("train_X.bin", "test_X.bin"),
        "the STL-10 binary files: train_X.bin, train_y.bin, test_X.bin, test_y.bin",
        _stl10,
    ),
    "tinyimagenet": _Format(
        "tiny-imagenet-200",
        ("wnids.txt",),
        "the Tiny-ImageNet-200 folder: wnids.txt, train/<wnid>/images/*.JPEG, "
        "val/images/*.JPEG, val/val_annotations.txt",
        _tinyimagenet,
    ),
}


# --------------------------------------------------------------------------------------------
# Public loading API


def _digits(split: str, seed: int, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits, 80/20 stratified split seeded by ``seed``, as 1-channel [0,1]."""
    load_digits = optional_import("sklearn.datasets", "scikit-learn", "the digits data set").load_digits
    train_test_split = optional_import(
        "sklearn.model_selection", "scikit-learn", "the digits data set"
    ).train_test_split

    bunch = load_digits()
    idx_train, idx_test = train_test_split(
        np.arange(len(bunch.target)), test_size=0.2, stratify=bunch.target, random_state=seed
    )
    idx = (idx_train if split == "train" else idx_test)[:limit]
    x = torch.from_numpy(bunch.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target[idx].astype(np.int64))
    return x.expand(-1, 3, -1, -1).contiguous(), y


def _resize(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear resize of ``N x C x H x W`` to ``size x size`` in chunks, clamped to [0, 1]."""
    if x.shape[-2:] == (size, size):
        return x
    parts = [
        F.interpolate(x[i : i + chunk], size=(size, size), mode="bilinear", align_corners=False)
        for i in range(0, x.shape[0], chunk)
    ]
    out = torch.cat(parts) if parts else x.new_empty((0, x.shape[1], size, size))
    return out.clamp_(0.0, 1.0)


def load_dataset(
    name: str,
    split: str,
    data_dir: str | Path | None,
    *,
    image_size: int | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> TensorDataset:
    """Load ``split`` ("train" or "test") of dataset ``name`` as float32 images in [0, 1].

    ``data_dir`` may be the folder holding the dataset's standard subfolder (e.g.
    ``cifar-10-batches-py``) or that subfolder itself; it is ignored (may be None) for ``digits``.
    ``image_size`` resizes bilinearly (default: the dataset's native size, see :data:`DATASETS`).
    ``seed`` only affects the deterministic train/test split of ``digits``. ``limit`` keeps the
    first N samples.
    """
    info = _info(name)
    if split not in SPLITS:
        known = ", ".join(SPLITS)
        raise HwsimError(f"{info.name}: unknown split {split!r} (expected one of {known})")
    if limit is not None and limit < 0:
        raise HwsimError(f"{info.name}: limit must be >= 0, got {limit}")
    size = info.image_size if image_size is None else int(image_size)
    if size < 1:
        raise HwsimError(f"{info.name}: image_size must be >= 1, got {image_size}")
    if info.name == "digits":
        x, y = _digits(split, seed, limit)
    else:
        fmt = _FORMATS[info.name]
        if data_dir is None:
            raise HwsimError(f"{info.name}: no data directory given (expected {fmt.expected})")
        root = _find_root(Path(data_dir).expanduser(), fmt.subdir, fmt.probes)
        arr, labels = fmt.read(_Source(info.name, root, fmt.expected), split, limit)
        arr, labels = arr[:limit], labels[:limit]
        x = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(255.0)
        y = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    return TensorDataset(_resize(x, size), y)


# --------------------------------------------------------------------------------------------
# Batching and augmentation

_AUG_SEED_OFFSET = 0x9E3779B9  # keeps the augmentation stream distinct from the shuffle stream


CROP_PADDING = 4  # px, every data set: RandomCrop(size, padding=4) in the OAT / FLOAT references (STL-10: Pad(4))


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = CROP_PADDING) -> torch.Tensor:
    """Random crop with ``pad`` px of zero padding on each side, plus random horizontal flip."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator)
    flip = torch.rand(b, 1, generator=generator) < 0.5
    rows = oy + torch.arange(h)
    cols = ox + torch.where(flip, torch.arange(w - 1, -1, -1), torch.arange(w))
    return padded[
        torch.arange(b)[:, None, None, None],
        torch.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


class _AugmentingLoader(DataLoader):
    """DataLoader that augments each ``(images, labels)`` batch in the main process.

    Augmenting here (not in workers) keeps results identical for any ``num_workers`` and lets the
    seeded generator advance across epochs.
    """

    def __init__(self, *args: Any, aug_generator: torch.Generator, **kwargs: Any) -> None:
        self.aug_generator = aug_generator
        super().__init__(*args, **kwargs)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        for x, y in super().__iter__():
            yield augment_batch(x, self.aug_generator), y


def make_loader(
    dataset: TensorDataset,
    batch_size: int,
    *,
    train: bool,
    augment: bool,
    seed: int,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of ``dataset``; shuffled (train) and augmented (train and ``augment``) from ``seed``.

    The same seed gives the same batches, epoch by epoch. A ``sampler`` (the trainer's
    DistributedSampler) replaces the seeded shuffle. Augmentation is never applied to evaluation
    loaders (``train=False``).
    """
    if batch_size < 1:
        raise HwsimError(f"batch_size must be >= 1, got {batch_size}")
    kwargs: dict[str, Any] = dict(
        batch_size=batch_size,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )
    # A generator of its own even with a sampler: the loader's iterator then never draws from the
    # global RNG, which FLOAT's noise and the attacks use.
    kwargs["generator"] = torch.Generator().manual_seed(seed)
    if sampler is not None:
        kwargs["sampler"] = sampler
    else:
        kwargs["shuffle"] = train
    if train and augment:
        aug = torch.Generator().manual_seed(seed + _AUG_SEED_OFFSET)
        return _AugmentingLoader(dataset, aug_generator=aug, **kwargs)
    return DataLoader(dataset, **kwargs)
