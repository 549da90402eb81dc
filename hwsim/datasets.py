"""Input shape and class count of each supported data set (metadata only; loaders live in the runner)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    image_size: int
    num_classes: int
    channels: int = 3


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar10", 32, 10),
        DatasetInfo("cifar100", 32, 100),
        DatasetInfo("svhn", 32, 10),
        DatasetInfo("stl10", 96, 10),
        DatasetInfo("tinyimagenet", 64, 200),
        DatasetInfo("digits", 32, 10),  # scikit-learn's bundled 8x8 digits, resized
    )
}
