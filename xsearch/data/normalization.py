"""Per-channel mean and std for each `data.normalize` mode.

All three modes reduce to `(x - mean) / std` on [0, 1] pixels, so the batch
path has a single arithmetic step whatever the mode.
"""

from __future__ import annotations

import torch

Stats = tuple[tuple[float, ...], tuple[float, ...]]

# Per-channel statistics of the training images on [0, 1]. The CIFAR stds are
# over all pixels (not the widely copied per-image average, which is too small).
CIFAR10_STATS: Stats = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS: Stats = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS: Stats = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def mean_std(mode: str, *, dataset_stats: Stats, channels: int) -> Stats | None:
    """The shift and scale for `mode`, or None when pixels stay on [0, 1]."""
    if mode == "none":
        return None
    if mode == "inception":
        # (x - 0.5) / 0.5 maps [0, 1] onto [-1, 1], Keras Xception's preprocessing.
        return (0.5,) * channels, (0.5,) * channels
    if mode == "dataset":
        return dataset_stats
    raise ValueError(f"unknown normalization {mode!r}")


def channel_stats(images: torch.Tensor) -> Stats:
    """Mean and std per channel of `[N, C, H, W]` images already on [0, 1]."""
    per_channel = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return tuple(per_channel.mean(dim=1).tolist()), tuple(per_channel.std(dim=1).tolist())
