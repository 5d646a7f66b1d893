"""The memory layout a CPU training step runs in: xsearch's choice against NCHW, and against channels last with
oneDNN's own strided 1x1 kernel.

xsearch trains in channels last on x86 CPUs and computes each strided 1x1 convolution (the entry and exit
flows' shortcuts) as a 1x1 convolution of every other pixel (`xsearch.model.layers.StridedPointwise`), so
oneDNN never runs its strided 1x1 kernel, whose AVX2 backward pass in channels last hangs
(docs/ONEDNN_AVX2_HANG.md). The references, measured in the same process, step by step in turn:

- NCHW: what xsearch trained 3-channel data in before (and what any CPU gets without channels last);
- channels last with oneDNN's strided 1x1 kernel: what xsearch ran, by accident, for 1-channel data before. With
  oneDNN's AVX2 kernels it can hang: a measurement that does not finish in time is reported as hung, and the
  others are measured again without it.

The step: the default `model=small` network, batch 64, 32x32, forward + loss + backward + SGD. The variants
take turns step by step, in a rotating order, so the machine's drift reaches them alike; each ratio is the
median of the per-turn ratios, with the middle half of them.

    python benchmarks/layout.py                               # the instruction set oneDNN picks here
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/layout.py       # oneDNN's AVX2 kernels, e.g. on an AVX-512 machine
    python benchmarks/layout.py --smoke                       # a few steps, to check it runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "xsearch": "channels last, strided 1x1 off oneDNN (xsearch)",
    "nchw": "NCHW",
    "strided": "channels last, oneDNN's strided 1x1 kernel",
}


def measure(channels: int, variants: list[str], warmup: int, turns: int) -> dict[str, list[float]]:
    """Seconds per training step of each variant, `turns` steps each, taken in turn."""
    import torch
    import torch.nn.functional as F

    from xsearch.model import build_model
    from xsearch.model.layers import StridedPointwise

    torch.manual_seed(0)
    nets = {"xsearch": build_model(width=0.25, middle_depth=2, stem_stride=1, stem_padding=1, num_classes=10,
                                   in_channels=channels)}
    nets["nchw"] = build_model(nets["xsearch"].cfg)
    nets["nchw"].load_state_dict(nets["xsearch"].state_dict())
    nets["xsearch"].to(memory_format=torch.channels_last)
    nets["strided"] = nets["xsearch"]  # the same network, its shortcuts run through oneDNN's strided kernel
    plain = StridedPointwise.forward
    x = torch.randn(64, channels, 32, 32)
    y = torch.randint(0, 10, (64,))
    inputs = {"xsearch": x.clone(memory_format=torch.channels_last), "nchw": x,
              "strided": x.clone(memory_format=torch.channels_last)}
    optimizers = {v: torch.optim.SGD(nets[v].parameters(), lr=0.01) for v in ("xsearch", "nchw")}
    optimizers["strided"] = optimizers["xsearch"]

    def step(variant: str) -> float:
        StridedPointwise.forward = (lambda self, x: F.conv2d(x, self.weight, self.bias, stride=self.stride)
                                    if variant == "strided" else plain(self, x))
        start = time.perf_counter()
        optimizers[variant].zero_grad()
        F.cross_entropy(nets[variant](inputs[variant]), y).backward()
        optimizers[variant].step()
        return time.perf_counter() - start

    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for turn in range(warmup + turns):
        for variant in variants[turn % len(variants):] + variants[:turn % len(variants)]:
            spent = step(variant)
            if turn >= warmup:
                seconds[variant].append(spent)
    StridedPointwise.forward = plain
    return seconds


def run_measurement(channels: int, variants: list[str], args: argparse.Namespace) -> dict[str, list[float]] | None:
    """`measure` in a fresh process; None if it did not finish within `args.limit` seconds (a hang)."""
    command = [sys.executable, __file__, "--worker", ",".join(variants), "--channels", str(channels),
               "--warmup", str(args.warmup), "--turns", str(args.turns)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.limit, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=150, help="timed steps of each variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--limit", type=float, default=600, help="seconds before a measurement counts as hung")
    parser.add_argument("--smoke", action="store_true", help="a few steps")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--channels", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.channels, args.worker.split(","), args.warmup, args.turns)))
        return
    if args.smoke:
        args.turns, args.warmup = 3, 1
    import torch

    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "not set: oneDNN's own choice")
    print(f"training step, model=small, batch 64, 32x32, CPU, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, ONEDNN_MAX_CPU_ISA {isa}; {args.turns} steps each, taken in turn")
    print(f"{'input':<11}{'layout':<50}{'img/s':>8}  xsearch / it: median (middle half)")
    for channels in (1, 3):
        variants = list(VARIANTS)
        seconds = run_measurement(channels, variants, args)
        hung = seconds is None
        if hung:
            variants.remove("strided")
            seconds = run_measurement(channels, variants, args)
        data = f"{channels} channel" + ("s" if channels > 1 else "")
        for variant, label in VARIANTS.items():
            if variant not in seconds:
                print(f"{data:<11}{label:<50}{'hung':>8}  (no step finished within {args.limit:.0f} s)")
                continue
            rate = 64 / statistics.median(seconds[variant])
            ratio = ""
            if variant != "xsearch":
                turns = sorted(b / a for a, b in zip(seconds["xsearch"], seconds[variant]))
                quarter = len(turns) // 4
                ratio = f"{statistics.median(turns):.3f} ({turns[quarter]:.3f}-{turns[-1 - quarter]:.3f})"
            print(f"{data:<11}{label:<50}{rate:>8.0f}  {ratio}")


if __name__ == "__main__":
    main()
