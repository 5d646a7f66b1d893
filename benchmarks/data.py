"""How much of a training step waits for data: xsearch's in-memory path against a standard DataLoader.

Both feed the same small network the same images with the same augmentation
(random crop with padding + horizontal flip for CIFAR-shaped data, random shift
for digits). The reference is the usual PyTorch recipe: a Dataset that
augments one sample at a time in `__getitem__`, a DataLoader with worker
processes collating batches. xsearch cuts batches from tensors in memory and
augments the whole batch at once (xsearch/data/). Both train the network in the
memory layout xsearch trains it in (channels last on x86 CPUs). Reported: the
share of the step spent waiting for the next batch, and images per second.

    python benchmarks/data.py              # digits and CIFAR-shaped synthetic data, CPU
    python benchmarks/data.py --smoke      # a few steps, to check it runs
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xsearch.data import build_datamodule, data_settings
from xsearch.model import build_model
from xsearch.settings.presets import preset
from xsearch.settings.run import cpu_prefers_channels_last
from xsearch.training.layout import in_layout

LAYOUT = torch.channels_last if cpu_prefers_channels_last() else torch.contiguous_format


class PerSampleAugment(Dataset):
    """The standard recipe: one sample at a time, augmented in the worker that loads it."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, padding: int, flip: bool) -> None:
        self.images, self.labels, self.padding, self.flip = images, labels, padding, flip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index].float()
        if image.max() > 1:
            image = image / 255
        if self.padding:
            size = image.shape[-1]
            padded = nn.functional.pad(image, [self.padding] * 4)
            top, left = torch.randint(0, 2 * self.padding + 1, (2,)).tolist()
            image = padded[:, top:top + size, left:left + size]
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return (image - 0.5) / 0.25, self.labels[index]


def measure(loader, model, optimizer, steps: int) -> tuple[float, float]:
    """(share of wall time spent waiting for batches, images per second) over `steps` steps after one warm-up."""
    iterator = iter(loader)
    next(iterator)
    waited = images = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        before = time.perf_counter()
        try:
            x, y = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            x, y = next(iterator)
        waited += time.perf_counter() - before
        nn.functional.cross_entropy(model(in_layout(x, LAYOUT)), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        images += len(y)
    total = time.perf_counter() - start
    return waited / total, images / total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.batch = 3, 16

    cases = {
        "digits (1x32x32)": (data_settings({**preset("data", "digits"), "batch_size": args.batch}), 2, False),
        "CIFAR-shaped (3x32x32)": (data_settings({**preset("data", "synthetic"), "batch_size": args.batch,
                                                  "size": 32, "channels": 3, "train_samples": 8192}), 4, True),
    }
    print(f"batch {args.batch}, {args.steps} steps, tiny network (width 0.125, 1 middle block), CPU, "
          f"{torch.get_num_threads()} threads, {'channels last' if LAYOUT == torch.channels_last else 'NCHW'}; "
          f"reference: DataLoader with {args.workers} workers")
    print(f"{'data':<26}{'path':<22}{'waiting':>10}{'img/s':>10}")
    for name, (settings, padding, flip) in cases.items():
        datamodule = build_datamodule(settings, seed=0)
        datamodule.setup("fit")
        splits = datamodule.splits
        reference = DataLoader(
            PerSampleAugment(splits.train_images, splits.train_labels, padding=padding, flip=flip),
            batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers,
            persistent_workers=args.workers > 0)
        results = {}
        for path, loader in (("xsearch in-memory", datamodule.train_dataloader()), ("DataLoader", reference)):
            torch.manual_seed(0)
            model = build_model(width=0.125, middle_depth=1, num_classes=datamodule.num_classes,
                                in_channels=datamodule.channels, stem_stride=1, stem_padding=1).to(memory_format=LAYOUT)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            results[path] = measure(loader, model, optimizer, args.steps)
            print(f"{name:<26}{path:<22}{results[path][0]:>10.1%}{results[path][1]:>10.0f}")
        ours, ref = results["xsearch in-memory"], results["DataLoader"]
        print(f"{name:<26}ratio xsearch / DataLoader images/s: {ours[1] / ref[1]:.3f}")


if __name__ == "__main__":
    main()
