"""Dataset loaders: tiny files written in each real on-disk format, loader determinism, errors."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from hwsim.errors import HwsimError
from hwsim.runner.data import (
    DATASETS,
    DatasetInfo,
    augment_batch,
    default_augment,
    load_dataset,
    make_loader,
)

RNG = np.random.default_rng(1234)


def _images(n: int, size: int) -> np.ndarray:
    """Random uint8 images N x 3 x size x size (asymmetric, so any transpose shows)."""
    return RNG.integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)


def _check(ds: TensorDataset, images: np.ndarray, labels: list[int] | np.ndarray) -> None:
    """``ds`` holds exactly ``images`` (uint8 NCHW) scaled to [0, 1] and ``labels``."""
    x, y = ds.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert tuple(x.shape) == images.shape
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(torch.round(x * 255).to(torch.uint8), torch.from_numpy(images))
    assert y.tolist() == list(np.asarray(labels).tolist())


def _raises(fn, *parts: str | Path) -> str:
    """Run ``fn``, expect one-line HwsimError mentioning every part; return the message."""
    with pytest.raises(HwsimError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    for part in parts:
        assert str(part) in msg, (part, msg)
    return msg


# ------------------------------------------------------------------------------------ CIFAR


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes as Python 2 ``str`` opcodes, like the official CIFAR files."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        op = (
            pickle.SHORT_BINSTRING + bytes([len(obj)])
            if len(obj) < 256
            else (pickle.BINSTRING + struct.pack("<i", len(obj)))
        )
        self.write(op + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _write_pickle(path: Path, obj: object, py2: bool = False, protocol: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if py2:
        buf = io.BytesIO()
        _Py2Pickler(buf, protocol=2).dump(obj)
        # Numpy 1.x / Python 2 module path of the array rebuild function.
        data = buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        path.write_bytes(data)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _cifar_batch(images: np.ndarray, labels: list[int], key: bytes) -> dict:
    return {
        b"batch_label": b"x",
        b"data": images.reshape(len(images), -1),
        key: labels,
        b"filenames": [b"f"] * len(images),
    }


@pytest.fixture
def cifar10(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, list[int]]]]:
    root = tmp_path / "cifar-10-batches-py"
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = _images(2, 32), [i, (i * 3) % 10]
        # Batch 1 as the official Python 2 files are written, batch 2 as a re-saved protocol 5 file.
        batch = _cifar_batch(x, y, b"labels")
        _write_pickle(root / f"data_batch_{i}", batch, py2=(i == 1), protocol=5 if i == 2 else 4)
        train_x.append(x)
        train_y += y
    test_x, test_y = _images(3, 32), [9, 0, 4]
    _write_pickle(root / "test_batch", _cifar_batch(test_x, test_y, b"labels"))
    return tmp_path, {"train": (np.concatenate(train_x), train_y), "test": (test_x, test_y)}


def test_cifar10_both_splits_and_both_roots(cifar10) -> None:
    parent, expected = cifar10
    for split in ("train", "test"):
        for root in (parent, parent / "cifar-10-batches-py"):
            _check(load_dataset("cifar10", split, root), *expected[split])


def test_cifar10_pixel_orientation(tmp_path: Path) -> None:
    x = np.zeros((1, 3, 32, 32), np.uint8)
    x[0, 2, 5, 30] = 255  # blue, row 5, column 30
    _write_pickle(tmp_path / "test_batch", _cifar_batch(x, [1], b"labels"))
    img = load_dataset("cifar10", "test", tmp_path).tensors[0][0]
    assert img[2, 5, 30] == 1.0 and float(img.sum()) == 1.0


def test_cifar10_limit_and_resize(cifar10) -> None:
    parent, expected = cifar10
    ds = load_dataset("cifar10", "train", str(parent), limit=3)
    _check(ds, expected["train"][0][:3], expected["train"][1][:3])
    assert len(load_dataset("cifar10", "train", parent, limit=0)) == 0
    x = load_dataset("cifar10", "test", parent, image_size=16).tensors[0]
    assert x.shape == (3, 3, 16, 16) and float(x.min()) >= 0 and float(x.max()) <= 1


def test_cifar100(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    data = {"train": (_images(4, 32), [0, 99, 42, 7]), "test": (_images(2, 32), [98, 1])}
    for split, (x, y) in data.items():
        batch = _cifar_batch(x, y, b"fine_labels") | {b"coarse_labels": [0] * len(y)}
        _write_pickle(root / split, batch)
    for split, (x, y) in data.items():
        _check(load_dataset("cifar100", split, tmp_path), x, y)
        _check(load_dataset("cifar100", split, root), x, y)


def test_cifar_missing_file(cifar10) -> None:
    parent, _ = cifar10
    (parent / "cifar-10-batches-py" / "data_batch_3").unlink()
    _raises(
        lambda: load_dataset("cifar10", "train", parent),
        "cifar10",
        parent / "cifar-10-batches-py" / "data_batch_3",
        "data_batch_1..5",
    )
    _raises(
        lambda: load_dataset("cifar10", "test", parent / "nowhere"),
        "cifar10: missing",
        parent / "nowhere" / "cifar-10-batches-py" / "test_batch",
    )


def test_cifar_truncated_pickle(cifar10) -> None:
    parent, _ = cifar10
    path = parent / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    _raises(lambda: load_dataset("cifar10", "test", parent), "cifar10: corrupt", path)


def test_cifar_forbidden_global_is_not_called(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    msg = _raises(lambda: load_dataset("cifar10", "test", tmp_path), path, "forbidden global")
    assert "system" in msg
    assert not (tmp_path / "pwned").exists()


def test_cifar_wrong_content(tmp_path: Path) -> None:
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    _write_pickle(tmp_path / "test_batch", bad)
    _raises(lambda: load_dataset("cifar10", "test", tmp_path), tmp_path / "test_batch", "3072")
    _write_pickle(tmp_path / "test_batch", _cifar_batch(_images(2, 32), [0], b"labels"))
    _raises(lambda: load_dataset("cifar10", "test", tmp_path), "1 labels for 2 images")


# ------------------------------------------------------------------------------------- SVHN


def test_svhn(tmp_path: Path) -> None:
    from scipy.io import savemat

    for split, labels in (("train", [10, 1, 5]), ("test", [3, 10])):
        x = _images(len(labels), 32)
        # SVHN stores X as 32 x 32 x 3 x N (row, column, channel, image).
        savemat(
            tmp_path / f"{split}_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": np.array(labels, np.uint8)[:, None]}
        )
        _check(load_dataset("svhn", split, tmp_path), x, [v % 10 for v in labels])


def test_svhn_missing_and_corrupt(tmp_path: Path) -> None:
    _raises(
        lambda: load_dataset("svhn", "train", tmp_path), "svhn: missing", tmp_path / "train_32x32.mat", "test_32x32.mat"
    )
    (tmp_path / "test_32x32.mat").write_bytes(b"not a matlab file at all" * 10)
    _raises(lambda: load_dataset("svhn", "test", tmp_path), "svhn: corrupt", tmp_path / "test_32x32.mat")


# ------------------------------------------------------------------------------------ STL-10


def _write_stl(root: Path, split: str, x: np.ndarray, labels: list[int]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    # Each channel plane is stored column-major (Fortran order).
    (root / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
    (root / f"{split}_y.bin").write_bytes(bytes(labels))


def test_stl10(tmp_path: Path) -> None:
    root = tmp_path / "stl10_binary"
    data = {"train": (_images(2, 96), [1, 10]), "test": (_images(3, 96), [5, 10, 2])}
    for split, (x, y) in data.items():
        _write_stl(root, split, x, y)
    for split, (x, y) in data.items():
        _check(load_dataset("stl10", split, tmp_path), x, [v - 1 for v in y])
    _check(load_dataset("stl10", "test", root, limit=1), data["test"][0][:1], [4])


def test_stl10_orientation(tmp_path: Path) -> None:
    x = np.zeros((1, 3, 96, 96), np.uint8)
    x[0, 1, 3, 80] = 200  # green, row 3, column 80
    _write_stl(tmp_path, "test", x, [1])
    img = load_dataset("stl10", "test", tmp_path).tensors[0][0]
    assert torch.nonzero(img).tolist() == [[1, 3, 80]]


def test_stl10_wrong_size_and_labels(tmp_path: Path) -> None:
    root = tmp_path / "stl10_binary"
    _write_stl(root, "train", _images(2, 96), [1, 2])
    with open(root / "train_X.bin", "ab") as f:
        f.write(b"\0" * 7)
    _raises(lambda: load_dataset("stl10", "train", tmp_path), "stl10: corrupt", root / "train_X.bin")
    _write_stl(root, "train", _images(2, 96), [1, 11])
    _raises(lambda: load_dataset("stl10", "train", tmp_path), root / "train_y.bin", "1..10")
    (root / "test_y.bin").write_bytes(b"\1")
    (root / "test_X.bin").unlink(missing_ok=True)
    _raises(lambda: load_dataset("stl10", "test", tmp_path), "stl10: missing", root / "test_X.bin")


# ------------------------------------------------------------------------------ Tiny-ImageNet

WNIDS = ["n03", "n01", "n02"]  # deliberately unsorted, as in the real wnids.txt


def _save(path: Path, rgb: tuple[int, int, int] | np.ndarray, fmt: str = "JPEG", mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(rgb, np.ndarray):
        im = Image.fromarray(rgb)
    else:
        im = Image.new(mode, (64, 64), rgb[0] if mode == "L" else rgb)
    im.save(path, format=fmt, quality=95)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-imagenet-200"
    root.mkdir()
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for k, w in enumerate(WNIDS):
        for j in range(2):
            _save(root / "train" / w / "images" / f"{w}_{j}.JPEG", (40 * k + 10, 100 + j * 50, 200))
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
    pattern = np.zeros((64, 64, 3), np.uint8)
    pattern[5, 40] = (255, 0, 0)
    _save(root / "val" / "images" / "val_0.JPEG", pattern, fmt="PNG")  # PNG bytes, lossless
    _save(root / "val" / "images" / "val_1.JPEG", (90, 0, 0), mode="L")  # grayscale JPEG
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn03\t1\t2\t30\t40\n")
    return root


def test_tinyimagenet_train(tiny: Path) -> None:
    for root in (tiny.parent, tiny):
        x, y = load_dataset("tinyimagenet", "train", root).tensors
        assert x.shape == (6, 3, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
        # Class indices follow the sorted wnids: n01 -> 0, n02 -> 1, n03 -> 2.
        assert y.tolist() == [0, 0, 1, 1, 2, 2]
        first = x[0].mean(dim=(1, 2)) * 255  # n01_0.JPEG is flat (50, 100, 200)
        assert torch.allclose(first, torch.tensor([50.0, 100.0, 200.0]), atol=3)
        assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_tinyimagenet_val(tiny: Path) -> None:
    x, y = load_dataset("tinyimagenet", "test", tiny.parent).tensors
    assert x.shape == (2, 3, 64, 64) and y.tolist() == [1, 2]
    assert torch.nonzero(x[0]).tolist() == [[0, 5, 40]] and x[0, 0, 5, 40] == 1.0
    assert torch.allclose(x[1] * 255, torch.full((3, 64, 64), 90.0), atol=3)  # gray -> RGB
    assert load_dataset("tinyimagenet", "test", tiny, limit=1).tensors[0].shape[0] == 1


def test_tinyimagenet_errors(tiny: Path) -> None:
    bad = tiny / "val" / "images" / "val_1.JPEG"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    _raises(lambda: load_dataset("tinyimagenet", "test", tiny), "tinyimagenet: corrupt", bad)
    (tiny / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99\n")
    _raises(lambda: load_dataset("tinyimagenet", "test", tiny), "val_annotations.txt", "line 1")
    missing = tiny / "train" / "n02" / "images"
    for p in missing.iterdir():
        p.unlink()
    missing.rmdir()
    _raises(lambda: load_dataset("tinyimagenet", "train", tiny), "tinyimagenet: missing", missing)


# ------------------------------------------------------------------------------------ digits


def test_digits() -> None:
    train = load_dataset("digits", "train", None)
    test = load_dataset("digits", "test", "/ignored")
    (xtr, ytr), (xte, yte) = train.tensors, test.tensors
    assert xtr.shape[1:] == (3, 32, 32) and xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert set(ytr.tolist()) == set(yte.tolist()) == set(range(10))
    assert xte.shape[1:] == (3, 32, 32)
    assert float(xtr.min()) == 0.0 and float(xtr.max()) <= 1.0 and float(xtr.max()) > 0.9
    assert torch.equal(xtr[:, 0], xtr[:, 2])  # grayscale repeated to 3 channels
    again = load_dataset("digits", "train", None)
    assert torch.equal(again.tensors[0], xtr) and torch.equal(again.tensors[1], ytr)
    other = load_dataset("digits", "train", None, seed=1)
    assert not torch.equal(other.tensors[1], ytr)
    small = load_dataset("digits", "test", None, image_size=16, limit=5)
    assert small.tensors[0].shape == (5, 3, 16, 16)


# ------------------------------------------------------------------------------- table / API


def test_table_and_defaults() -> None:
    sizes = {k: (v.image_size, v.num_classes) for k, v in DATASETS.items()}
    assert sizes == {
        "cifar10": (32, 10),
        "cifar100": (32, 100),
        "svhn": (32, 10),
        "stl10": (96, 10),
        "tinyimagenet": (64, 200),
        "digits": (32, 10),
    }
    assert all(isinstance(v, DatasetInfo) and v.name == k for k, v in DATASETS.items())
    augmented = [n for n in DATASETS if default_augment(n)]
    assert augmented == ["cifar10", "cifar100", "stl10", "tinyimagenet"]


def test_bad_names_and_arguments(tmp_path: Path) -> None:
    _raises(lambda: load_dataset("imagenet", "train", tmp_path), "imagenet", "cifar10", "tinyimagenet")
    _raises(lambda: default_augment("mnist"), "mnist", "digits")
    _raises(lambda: load_dataset("digits", "val", None), "val", "train, test")
    _raises(lambda: load_dataset("cifar10", "train", None), "cifar10", "data directory")


# ----------------------------------------------------------------------------------- loaders


def _toy(n: int = 20, size: int = 32) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 3, size, size, generator=g) * 0.9 + 0.1, torch.arange(n))


def _batches(loader, epochs: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x, y) for _ in range(epochs) for x, y in loader]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


@pytest.mark.parametrize("augment", [False, True])
def test_loader_determinism(augment: bool) -> None:
    ds = _toy()

    def run(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return _batches(make_loader(ds, 6, train=True, augment=augment, seed=seed))

    first = run(3)
    assert _same(first, run(3))
    assert not _same(first, run(4))
    assert [len(y) for _, y in first] == [6, 6, 6, 2] * 2
    assert sorted(torch.cat([y for _, y in first[:4]]).tolist()) == list(range(20))
    assert not torch.equal(first[0][1], first[4][1])  # reshuffled each epoch


def test_eval_loader_is_ordered_and_plain() -> None:
    ds = _toy()
    batches = _batches(make_loader(ds, 8, train=False, augment=True, seed=0), epochs=1)
    assert torch.equal(torch.cat([x for x, _ in batches]), ds.tensors[0])
    assert torch.equal(torch.cat([y for _, y in batches]), ds.tensors[1])


def test_workers_give_same_batches() -> None:
    ds = _toy()
    plain = _batches(make_loader(ds, 5, train=True, augment=True, seed=7), epochs=1)
    loader = make_loader(ds, 5, train=True, augment=True, seed=7, num_workers=1)
    workers = _batches(loader, epochs=1)
    assert _same(plain, workers)


def test_augmentation_is_padded_crop_and_flip() -> None:
    ds = _toy(16)
    x, y = next(iter(make_loader(ds, 16, train=True, augment=True, seed=0)))
    assert x.shape == (16, 3, 32, 32) and float(x.min()) >= 0 and float(x.max()) <= 1
    orig = ds.tensors[0][y]
    assert sum(not torch.equal(a, b) for a, b in zip(x, orig)) >= 8
    padded = torch.nn.functional.pad(orig, (4, 4, 4, 4))
    flipped = []
    for i in range(16):  # every output is some 4-px-padded crop of its source, maybe flipped
        crops = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(x[i], c) for c in crops)
        mirrored = any(torch.equal(x[i], c.flip(-1)) for c in crops)
        assert plain != mirrored
        flipped.append(mirrored)
    assert 0 < sum(flipped) < 16


def test_augmentation_padding_is_four_pixels_at_every_size() -> None:
    """OAT's STL-10 loader pads 4 px (Pad(4) + RandomCrop(96)), as its CIFAR one does."""
    g = torch.Generator().manual_seed(0)
    out = augment_batch(torch.ones(256, 3, 96, 96), g)
    empty_rows = (out.sum(dim=(1, 3)) == 0).sum(dim=1)  # zero rows = vertical shift
    assert int(empty_rows.max()) == 4
