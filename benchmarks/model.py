"""Training-step throughput of the spectrum network against timm's `legacy_xception`.

Both networks take the same batch, input size, device and precision; a step is
forward + cross-entropy + backward + SGD step. Every measurement runs in a fresh
process (warm-up steps, then timed steps), alternating A-B, B-A: measured in one
process, whichever model is built first runs a few percent slower, which an A/A
run (`--reference xsearch`) shows. The ratio is the median over rounds.

    python benchmarks/model.py                      # CPU, fp32, reduced size
    python benchmarks/model.py --size 299 --batch 32 --device cuda --bf16 --channels-last
    python benchmarks/model.py --reference xsearch  # A/A: the noise floor of this machine
    python benchmarks/model.py --smoke              # one tiny round: CI checks it runs, not its speed
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from xsearch.model import XceptionConfig, build_model


def make_model(name: str, num_classes: int) -> nn.Module:
    if name == "xsearch":
        return build_model(XceptionConfig(num_classes=num_classes))
    import timm  # development-only dependency: the named reference

    return timm.create_model("legacy_xception", pretrained=False, num_classes=num_classes)


def measure(args: argparse.Namespace) -> float:
    """Images per second of one model, in this process."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = make_model(args.worker, args.classes).to(device, memory_format=fmt).train()
    if args.compile:
        model = torch.compile(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.045, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=fmt)
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    def run(steps: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            with autocast:
                loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return args.batch * steps / (time.perf_counter() - start)

    run(args.warmup)
    return run(args.steps)


def spawn(name: str, argv: list[str]) -> float:
    out = subprocess.run([sys.executable, __file__, *argv, "--worker", name], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"]


def main(argv: list[str] | None = None) -> float | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=160, help="input height = width (paper: 299)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of one measurement per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per measurement")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--reference", choices=("timm", "xsearch"), default="timm")
    parser.add_argument("--smoke", action="store_true", help="one tiny round, to check the script runs")
    parser.add_argument("--worker", choices=("timm", "xsearch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps({"images_per_s": measure(args)}))
        return None
    if args.smoke:
        args.size, args.batch, args.rounds, args.warmup, args.steps = 71, 2, 1, 1, 1
    passthrough = [f"--size={args.size}", f"--batch={args.batch}", f"--classes={args.classes}",
                   f"--device={args.device}", f"--warmup={args.warmup}", f"--steps={args.steps}"]
    passthrough += [flag for flag, on in (("--bf16", args.bf16), ("--channels-last", args.channels_last),
                                          ("--compile", args.compile)) if on]

    ours, ref = [], []
    for i in range(args.rounds):
        if i % 2 == 0:
            ours.append(spawn("xsearch", passthrough))
            ref.append(spawn(args.reference, passthrough))
        else:
            ref.append(spawn(args.reference, passthrough))
            ours.append(spawn("xsearch", passthrough))
    ratio = statistics.median(a / b for a, b in zip(ours, ref))

    precision = "bf16-mixed" if args.bf16 else "fp32"
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else (
        f"{platform.machine()}, {torch.get_num_threads()} threads")
    reference = "timm legacy_xception" if args.reference == "timm" else "xsearch (A/A)"
    print(f"train step, batch {args.batch}, {args.size}x{args.size}, {args.device} ({machine}), {precision}, "
          f"channels_last={args.channels_last}, compile={args.compile}, torch {torch.__version__}")
    print(f"{'model':<24}{'images/s per round':>40}")
    print(f"{'xsearch default':<24}{'  '.join(f'{r:.2f}' for r in ours):>40}")
    print(f"{reference:<24}{'  '.join(f'{r:.2f}' for r in ref):>40}")
    print(f"ratio xsearch / {reference} (median of {args.rounds} rounds): {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main()
