"""K copies of one network as one: the seeds of a design point trained in one step (HFTA, Wang et al. 2021).

The copies share every shape, so each layer of the fused network holds the K copies' layers side by side along
the channels: a convolution K times as wide with K times the groups (copy k's channels are the k-th block, and no
group reads another copy's), a batch norm K times as wide (its statistics are per channel, so per copy), the
classifier one weight per copy. Pooling, activations and the shortcuts' additions act per channel already. The
input is the K copies' batches side by side: [B, K x C, H, W], copy k's own images in its channels.

`fuse` takes K lone networks, each built and initialized exactly as its lone trial builds it, and copies their
weights in, so the fused network starts where the K lone ones do; `unfuse` takes copy k back out as a lone
network (for scoring, with the lone code path). Dropout draws each copy's mask from that copy's own random stream
(`Streams`), in the order its lone trial would.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from xsearch.model.network import Xception


class FusedLinear(nn.Module):
    """K classifiers: input [B, K x F], output [B, K, O]. The weight is [K x O, F] and the bias [K x O], so each
    copy's weight is decayed and its bias not, as the lone network's."""

    def __init__(self, copies: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.copies, self.out_features = len(copies), copies[0].out_features
        self.weight = nn.Parameter(torch.cat([c.weight.detach() for c in copies]))
        self.bias = nn.Parameter(torch.cat([c.bias.detach() for c in copies]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, o = self.copies, self.out_features
        per_copy = x.view(x.shape[0], k, -1)  # [B, K, F]
        out = torch.einsum("bkf,kof->bko", per_copy, self.weight.view(k, o, -1))
        return out + self.bias.view(k, o)


class Streams:
    """Each copy's own random stream on one device: the state the global generator would have in its lone trial.
    `draw(k, fn)` runs `fn` with copy k's stream as the global one, and keeps where it left it."""

    def __init__(self, states: Sequence[torch.Tensor], device: torch.device) -> None:
        self.states, self.device = list(states), device

    def draw(self, k: int, fn):
        cuda = self.device.type == "cuda"
        saved = torch.cuda.get_rng_state(self.device) if cuda else torch.get_rng_state()
        (torch.cuda.set_rng_state if cuda else torch.set_rng_state)(self.states[k], *((self.device,) if cuda else ()))
        try:
            return fn()
        finally:
            self.states[k] = torch.cuda.get_rng_state(self.device) if cuda else torch.get_rng_state()
            (torch.cuda.set_rng_state if cuda else torch.set_rng_state)(saved, *((self.device,) if cuda else ()))


class FusedDropout(nn.Module):
    """Dropout with each copy's mask drawn from its own stream, exactly as its lone network's nn.Dropout draws it."""

    def __init__(self, p: float, copies: int) -> None:
        super().__init__()
        self.p, self.copies = p, copies
        self.streams: Streams | None = None  # set by the fused run once it knows the device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        parts = x.view(x.shape[0], self.copies, -1)
        dropped = [self.streams.draw(k, functools.partial(F.dropout, parts[:, k].contiguous(), self.p, True))
                   for k in range(self.copies)]
        return torch.stack(dropped, dim=1).view_as(x)


def _fused_conv(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    first = convs[0]
    fused = copy.deepcopy(first)  # the same class (a strided pointwise keeps its own forward), then widened
    k = len(convs)
    fused.in_channels, fused.out_channels, fused.groups = k * first.in_channels, k * first.out_channels, \
        k * first.groups
    fused.weight = nn.Parameter(torch.cat([c.weight.detach() for c in convs]))
    if first.bias is not None:
        fused.bias = nn.Parameter(torch.cat([c.bias.detach() for c in convs]))
    return fused


def _fused_norm(norms: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    first = norms[0]
    fused = nn.BatchNorm2d(len(norms) * first.num_features, eps=first.eps, momentum=first.momentum)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(fused, name).copy_(torch.cat([getattr(n, name) for n in norms]))
        fused.num_batches_tracked.copy_(first.num_batches_tracked)
    return fused


def fuse(copies: Sequence[Xception]) -> Xception:
    """One network holding the K copies (their current weights), the lone networks' own structure and forward
    with every layer made K-wide."""
    fused = copy.deepcopy(copies[0])
    k = len(copies)
    for name, module in list(fused.named_modules()):
        parts = [c.get_submodule(name) for c in copies] if name else None
        if isinstance(module, nn.Conv2d):
            replacement = _fused_conv(parts)
        elif isinstance(module, nn.BatchNorm2d):
            replacement = _fused_norm(parts)
        elif isinstance(module, nn.Linear):
            replacement = FusedLinear(parts)
        elif isinstance(module, nn.Dropout):
            replacement = FusedDropout(module.p, k)
        else:
            continue
        parent, _, child = name.rpartition(".")
        setattr(fused.get_submodule(parent) if parent else fused, child, replacement)
    fused.copies = k
    return fused


def unfuse(fused: nn.Module, template: Xception, k: int) -> Xception:
    """Copy k of a fused network (or of its averaged weights) as a lone network shaped like `template`."""
    lone = copy.deepcopy(template)
    copies = fused.copies
    fused_state = fused.state_dict()
    with torch.no_grad():
        for name, value in lone.state_dict().items():
            whole = fused_state[name]
            if name.endswith("num_batches_tracked"):
                value.copy_(whole)
            else:
                value.copy_(whole.reshape(copies, *value.shape)[k])
    return lone


def fused_input(batches: Sequence[torch.Tensor]) -> torch.Tensor:
    """K batches [B, C, H, W] side by side: [B, K x C, H, W]."""
    return torch.cat(list(batches), dim=1)
