"""Early, clear errors for config values: each names the key, the value and what would be valid.

Every settings dataclass checks itself in `__post_init__` with these helpers, so
a bad override fails before any model, dataset or W&B run exists.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value that nothing can be built from."""


def bad(key: str, value: Any, valid: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: expected {valid}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def choice(key: str, value: Any, valid: Iterable[str]) -> None:
    valid = tuple(valid)
    if value not in valid:
        raise bad(key, value, "one of " + ", ".join(valid))


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise bad(key, value, "true or false")


def integer(key: str, value: Any, *, low: int | None = None, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not (is_int(value) and (low is None or value >= low)):
        raise bad(key, value, ("null or " if optional else "") + (f"an integer >= {low}" if low is not None
                                                                   else "an integer"))


def number(key: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, optional: bool = False) -> None:
    """A finite number in the given range; `low_open` excludes `low` itself, `high_open` excludes `high`."""
    if optional and value is None:
        return
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            what = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            what = f"a finite number {'>' if low_open else '>='} {low}"
        elif high is not None:
            what = f"a finite number {'<' if high_open else '<='} {high}"
        else:
            what = "a finite number"
        raise bad(key, value, ("null or " if optional else "") + what)


def from_mapping(cls: type[T], values: Mapping[str, Any], section: str) -> T:
    """Build a settings dataclass from a config node, naming any key it does not have or lacks."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    known = {f.name for f in fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {section} key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
    required = {f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(values))
    if missing:
        raise ConfigError(f"{section} key(s) {', '.join(missing)} missing; the config group's YAML sets them")
    return cls(**dict(values))
