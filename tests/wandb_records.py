"""Read what an offline W&B run recorded, straight from its `.wandb` file, as `wandb sync` would upload it.

Current wandb writes an offline run's config only into that file (a LevelDB-style
log of protobuf records), not into files/config.yaml, so the tests read it here.
"""

import json
import struct
import time
from pathlib import Path

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32768
HEADER = 7  # crc32 u32, length u16, chunk type u8
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
SETTLE_S = 30.0  # how long a run file may take to be completely written


def records(path: Path) -> list:
    """Every record of the file, once W&B has finished writing it: its service writes asynchronously and may
    still be flushing when the run's `finish` has returned (a read then meets a half-written record)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        data = Path(path).read_bytes()
        time.sleep(0.2)
        try:
            if Path(path).stat().st_size == len(data):  # it stopped growing
                return _parse(data, path)
        except DecodeError:  # a record still half-written
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: no complete W&B run file after {SETTLE_S} s")


def _parse(data: bytes, path: Path) -> list:
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, record, parsed = 7, b"", []
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # a block's tail too short for a header is padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if kind == 0 and length == 0:
            pos += room
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        record = chunk if kind in (FULL, FIRST) else record + chunk
        if kind in (FULL, LAST):
            message = pb.Record()
            message.ParseFromString(record)
            parsed.append(message)
    return parsed


def offline_run(run_dir: Path) -> Path:
    runs = list((Path(run_dir) / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, f"expected one offline W&B run under {run_dir}, found {runs}"
    return runs[0]


def run_of(run_dir: Path) -> Path:
    """The `.wandb` file of the W&B run a run's summary.json names: a sweep keeps its trials' W&B runs in the
    sweep's folder, not in each trial's."""
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    runs = list(Path(summary["wandb"]["dir"]).glob("run-*.wandb"))
    assert len(runs) == 1, f"expected one W&B run file in {summary['wandb']['dir']}, found {runs}"
    return runs[0]


def latest_offline_run(run_dir: Path) -> Path:
    """The newest offline run (a report re-made adds a run; the earlier ones stay, as W&B history)."""
    runs = sorted((Path(run_dir) / "wandb").glob("offline-run-*/run-*.wandb"))
    assert runs, f"no offline W&B run under {run_dir}"
    return runs[-1]


def kinds(path: Path) -> set[str]:
    """Which kinds of record the run wrote (history, summary, preempting, exit, ...)."""
    return {record.WhichOneof("record_type") for record in records(path)}


def _items(path: Path, kinds: dict) -> dict:
    values = {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind in kinds:
            for item in kinds[kind](record):
                key = item.key or "/".join(item.nested_key)
                values[key] = json.loads(item.value_json)
    return values


def config(path: Path) -> dict:
    return _items(path, {"config": lambda r: r.config.update, "run": lambda r: r.run.config.update})


def summary(path: Path) -> dict:
    return _items(path, {"summary": lambda r: r.summary.update})
