"""The raw trigger of oneDNN's AVX2 hang (docs/ONEDNN_AVX2_HANG.md): a 1x1 stride-2 convolution trained in
channels-last layout. Run with ONEDNN_MAX_CPU_ISA=AVX2: prints "ok" where the bug is not live; hangs within about
ten steps, or aborts with a corrupted heap with one thread, where it is."""

import torch

torch.manual_seed(0)
conv = torch.nn.Conv2d(6, 12, 1, stride=2, bias=False).to(memory_format=torch.channels_last)
x = torch.randn(64, 6, 32, 32).to(memory_format=torch.channels_last).requires_grad_(True)
for step in range(30):
    conv(x).sum().backward()
    print(step, flush=True)
print("ok")
