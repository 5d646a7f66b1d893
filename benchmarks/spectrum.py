"""Cost and speed along the spectrum: where the depthwise end stops being compute-bound.

For each segment count (and `conv=regular`, the dense reference measured in the
same run) at one width: parameters, MACs per image, measured training-step time
and achieved throughput in multiply-accumulates per second. A training step is
counted as 3x the forward MACs (forward, and backward for inputs and weights).
Fewer MACs per image only pay off while the achieved MAC/s holds up; grouped and
depthwise convolutions are memory-bound, so it falls toward the depthwise end.

    python benchmarks/spectrum.py                 # CPU, width 0.5, 64x64, batch 16
    python benchmarks/spectrum.py --device cuda --size 224 --batch 64 --width 1.0
    python benchmarks/spectrum.py --smoke         # tiny, to check it runs
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from xsearch.model import XceptionConfig, build_model, cost

VARIANTS = [("regular", {"conv": "regular"})] + [
    (f"segments={s}", {"segments": s}) for s in (1, 2, 4, 8, 16, "depthwise")]


def step_seconds(cfg: XceptionConfig, args: argparse.Namespace) -> float:
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, cfg.in_channels, args.size, args.size, device=device)
    y = torch.randint(0, cfg.num_classes, (args.batch,), device=device)

    def run(steps: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / steps

    run(args.warmup)
    return min(run(args.steps) for _ in range(args.repeats))  # the least disturbed of a few tries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--depth", type=int, default=2, help="middle-flow blocks")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.depth, args.size, args.batch, args.warmup, args.steps, args.repeats = 0.125, 0, 32, 4, 1, 1, 1

    base = XceptionConfig(width=args.width, middle_depth=args.depth, num_classes=10, stem_stride=1, stem_padding=1)
    rows = []
    for name, knobs in VARIANTS:
        cfg = base.replace(**knobs)
        c = cost(cfg, (args.size, args.size))
        seconds = step_seconds(cfg, args)
        rows.append((name, c.params, c.flops, seconds, 3 * c.flops * args.batch / seconds))
    reference = rows[0]
    print(f"train step, width {args.width}, middle depth {args.depth}, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.device}, fp32, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'variant':<20}{'params':>10}{'MMACs/img':>11}{'step ms':>10}{'img/s':>9}{'GMAC/s':>9}"
          f"{'MACs vs regular':>17}{'time vs regular':>17}{'MAC/s vs regular':>18}")
    for name, params, flops, seconds, rate in rows:
        print(f"{name:<20}{params:>10,}{flops / 1e6:>11.1f}{seconds * 1e3:>10.1f}{args.batch / seconds:>9.1f}"
              f"{rate / 1e9:>9.2f}{flops / reference[2]:>17.3f}{seconds / reference[3]:>17.3f}"
              f"{rate / reference[4]:>18.3f}")


if __name__ == "__main__":
    main()
