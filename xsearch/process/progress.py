"""Where a sweep's trial is, as its process writes it and the sweep's watchdog reads it (contract.PROGRESS).

One fixed-width JSON record, rewritten in place after every batch: the phase, the epoch (from 1, as the
console prints it), the step (Lightning's global step while training, the batch while validating) and a
count of beats. A reader compares raw records to see movement; a record read while it was being rewritten
may not parse, and still differs from the last one, which is all a watchdog needs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

RECORD_BYTES = 160  # fixed width, so a shorter record never leaves a stale tail behind


@dataclasses.dataclass(frozen=True)
class Position:
    phase: str  # "starting", "training", "validating", "finishing"
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        if self.phase == "training":
            return f"in epoch {self.epoch} (last step {self.step})"
        if self.phase == "validating":
            return f"validating epoch {self.epoch} (batch {self.step})"
        return {"starting": "before its first step", "finishing": "after training"}.get(self.phase, self.phase)


def record(position: Position, beats: int) -> bytes:
    text = json.dumps({**dataclasses.asdict(position), "beats": beats})
    return text.ljust(RECORD_BYTES - 1).encode()[:RECORD_BYTES - 1] + b"\n"


def read_position(path: Path) -> tuple[bytes, Position | None]:
    """The raw record (which changes with every beat) and the position it names."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return b"", None
    try:
        fields = json.loads(raw)
        return raw, Position(fields["phase"], fields["epoch"], fields["step"])
    except (ValueError, KeyError, TypeError):
        return raw, None
