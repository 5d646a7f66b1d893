"""Resolve knobs into the exact channels and groups of every layer.

The network and its cost model are both built from this one plan, so the
widths that are logged with a run are the widths that were trained.

Channel rule (one rule, applied everywhere): each paper channel count is
multiplied by `width` and rounded *up* to the next multiple of the segment
count (of 1 when `segments=depthwise` or `conv=regular`). At width 1.0 the
paper's widths (32, 64, 128, 256, 728, 1024, 1536, 2048) are kept for
segments 1, 2, 4 and 8; other counts grow slightly (728 -> 729 for 3 segments),
as RegNet rounds widths to its group size. A grouped step therefore always fits.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from xsearch.model.config import DEPTHWISE, XceptionConfig

# The paper's channel counts (docs/DESIGN.md section 1).
STEM = (32, 64)
ENTRY = (128, 256, 728)
MIDDLE = 728
EXIT = ((728, 1024), (1536, 2048))


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    """How every "separable convolution" position of the network is realised."""

    conv: str
    segments: int | str | None  # None where it does not apply (conv=regular)
    op_order: str | None
    mid_activation: str | None
    mid_norm: bool | None

    def spatial_channels(self, c_in: int, c_out: int) -> int | None:
        """Channels the grouped 3x3 step acts on (None for a regular conv)."""
        if self.conv == "regular":
            return None
        return c_in if self.op_order == "depthwise_first" else c_out

    def groups(self, c_in: int, c_out: int) -> int:
        """Groups of the 3x3 step."""
        c = self.spatial_channels(c_in, c_out)
        if c is None:
            return 1
        return c if self.segments == DEPTHWISE else self.segments


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """[ReLU] -> unit -> BN (-> ReLU -> unit -> BN)* [-> MaxPool 3x3 s2] [-> ReLU], plus a shortcut."""

    name: str
    c_in: int
    channels: tuple[int, ...]
    relu_first: bool
    pool: bool
    residual: bool
    relu_last: bool = False

    @property
    def c_out(self) -> int:
        return self.channels[-1]


@dataclasses.dataclass(frozen=True)
class NetSpec:
    in_channels: int
    stem: tuple[int, int]
    stem_stride: int
    stem_padding: int
    unit: UnitSpec
    entry: tuple[BlockSpec, ...]
    middle: tuple[BlockSpec, ...]
    exit: tuple[BlockSpec, ...]
    num_classes: int
    dropout: float
    bn_momentum: float
    not_applicable: tuple[str, ...]

    def as_dict(self) -> dict:
        """The spec in plain values (a sweep writes it into a trial's config; `from_dict` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, node: dict) -> NetSpec:
        def block(b: dict) -> BlockSpec:
            return BlockSpec(**{**b, "channels": tuple(b["channels"])})

        return cls(**{**node, "stem": tuple(node["stem"]), "unit": UnitSpec(**node["unit"]),
                      "entry": tuple(map(block, node["entry"])), "middle": tuple(map(block, node["middle"])),
                      "exit": tuple(map(block, node["exit"])), "not_applicable": tuple(node["not_applicable"])})

    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        return self.entry + self.middle + self.exit

    @property
    def num_features(self) -> int:
        return self.exit[-1].c_out

    def layers(self) -> list[dict]:
        """Every convolution unit's widths and groups, in order: what a run logs."""
        rows = [
            {"name": "stem.conv1", "type": "conv3x3", "c_in": self.in_channels, "c_out": self.stem[0], "groups": 1},
            {"name": "stem.conv2", "type": "conv3x3", "c_in": self.stem[0], "c_out": self.stem[1], "groups": 1},
        ]
        for block in self.blocks:
            c_in = block.c_in
            for i, c_out in enumerate(block.channels, start=1):
                rows.append({"name": f"{block.name}.unit{i}", "type": self.unit.conv, "c_in": c_in,
                             "c_out": c_out, "groups": self.unit.groups(c_in, c_out)})
                c_in = c_out
        rows.append({"name": "head.fc", "type": "linear", "c_in": self.num_features,
                     "c_out": self.num_classes, "groups": 1})
        return rows


def channels(base: int, width: float, multiple: int) -> int:
    # Exact decimal arithmetic: in floats 728 * 0.1 = 72.80000000000001, and noise
    # at a step would add a whole multiple to some layers and not to others.
    return max(multiple, math.ceil(base * Fraction(repr(width)) / multiple) * multiple)


def resolve(cfg: XceptionConfig) -> NetSpec:
    regular = cfg.conv == "regular"
    multiple = 1 if regular or cfg.segments == DEPTHWISE else cfg.segments

    def ch(base: int) -> int:
        return channels(base, cfg.width, multiple)

    unit = UnitSpec(
        conv=cfg.conv,
        segments=None if regular else cfg.segments,
        op_order=None if regular else cfg.op_order,
        mid_activation=None if regular else cfg.mid_activation,
        mid_norm=None if regular else cfg.mid_norm,
    )
    stem = (ch(STEM[0]), ch(STEM[1]))
    entry, c_in = [], stem[1]
    for i, base in enumerate(ENTRY):
        c = ch(base)
        # Block 2 has no leading ReLU: the stem already ends in one.
        entry.append(BlockSpec(f"entry{i + 2}", c_in, (c, c), relu_first=i > 0, pool=True, residual=cfg.residual))
        c_in = c
    middle = tuple(
        BlockSpec(f"middle{i + 1}", c_in, (c_in,) * 3, relu_first=True, pool=False, residual=cfg.residual)
        for i in range(cfg.middle_depth)
    )
    exit13 = BlockSpec("exit13", c_in, tuple(ch(c) for c in EXIT[0]), relu_first=True, pool=True,
                       residual=cfg.residual)
    # Block 14 has no shortcut in the paper, whatever `residual` says.
    exit14 = BlockSpec("exit14", exit13.c_out, tuple(ch(c) for c in EXIT[1]), relu_first=False, pool=False,
                       residual=False, relu_last=True)
    return NetSpec(
        in_channels=cfg.in_channels,
        stem=stem,
        stem_stride=cfg.stem_stride,
        stem_padding=cfg.stem_padding,
        unit=unit,
        entry=tuple(entry),
        middle=middle,
        exit=(exit13, exit14),
        num_classes=cfg.num_classes,
        dropout=cfg.dropout,
        bn_momentum=cfg.bn_momentum,
        not_applicable=cfg.not_applicable(),
    )
