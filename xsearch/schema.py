"""The typed schema every config group is checked by, and how its errors are worded.

Each config group's settings class (the model's knobs, each dataset's settings, optim, trainer, logger, the
sweep, the top level) is a `Schema`: a pydantic v2 model, strict (a string is not a number, 1 is not true),
closed (an unknown key is an error) and frozen. Its fields carry the types, ranges and choices; cross-field
rules are its validators. Nothing here imports torch or Lightning, so a typo is answered before they load.

Every error is one line that names the key, the bad value and what is valid, e.g.
`model.segments=0 is invalid: expected 'depthwise' or an integer >= 1`, and an unknown key or option names
the nearest valid ones: `model.segmnts is not a key of model: did you mean segments?`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

S = TypeVar("S", bound="Schema")


class ConfigError(ValueError):
    """A config value that nothing can be built from; its message is the one line the user reads."""


class Schema(BaseModel):
    """A config group's settings: strict, closed, frozen, finite. `section` is the group's dotted path in the
    config (`model`, `data`, `sweep`; "" for the top level): errors name keys by it."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    section: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        """Settings from keyword arguments (Python code: `XceptionConfig(segments=4)`), checked like a config
        node: a bad value is a ConfigError in one line."""
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise _config_error(error, type(self), type(self).section, values) from None

    @classmethod
    def checked(cls: type[S], values: Mapping[str, Any], section: str | None = None) -> S:
        """Validated settings from a config node, or a ConfigError in one line."""
        section = cls.section if section is None else section
        if not isinstance(values, Mapping):
            raise ConfigError(f"{section or 'the config'}={values!r} is invalid: expected a mapping of keys")
        try:
            return cls.model_validate(dict(values))
        except ValidationError as error:
            raise _config_error(error, cls, section, values) from None

    def replace(self: S, **changes: Any) -> S:
        """A copy with `changes`, checked again (pydantic's model_copy would not check them)."""
        return type(self).model_validate({**self.__dict__, **changes})

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def bad(key: str, value: Any, valid: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: expected {valid}")


def nearest(name: str, valid: Iterable[str]) -> str:
    """' (did you mean X?)' for the valid names closest to a misspelt one, else ''."""
    close = difflib.get_close_matches(str(name), list(valid), n=2, cutoff=0.6)
    return f": did you mean {' or '.join(close)}?" if close else ""


def unknown_key(key: str, valid: Iterable[str]) -> ConfigError:
    """An unknown key at `key` (dotted), with the nearest valid ones and the whole list."""
    parent, _, name = key.rpartition(".")
    valid = sorted(valid)
    where = f"a key of {parent}" if parent else "a top-level key"
    return ConfigError(f"{key} is not {where}{nearest(name, valid)} (valid: {', '.join(valid)})")


def unknown_option(group: str, option: str, valid: Iterable[str]) -> ConfigError:
    valid = sorted(valid)
    return ConfigError(f"{group}={option} is not an option of {group}{nearest(option, valid)} "
                       f"(valid: {', '.join(valid)})")


# --- What a field accepts, in words, from its annotation: the one description of each field's values ---

def expected(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """'an integer >= 1', "one of 'a', 'b'", "null or a number in (0, 1)", ... for a field's type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *more = typing.get_args(annotation)
        # Field(ge=1) inside Annotated is a FieldInfo: its constraints are its metadata.
        flat = [m for item in more for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
        return expected(base, [*metadata, *flat])
    if origin in (Union, types.UnionType):
        members = typing.get_args(annotation)
        shown = [expected(m, metadata) for m in members if m is not type(None)]
        text = " or ".join(dict.fromkeys(shown))
        return f"null or {text}" if type(None) in members else text
    if origin is Literal:
        choices = typing.get_args(annotation)
        return repr(choices[0]) if len(choices) == 1 else "one of " + ", ".join(map(str, choices))
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return _number("an integer" if annotation is int else "a number", list(metadata))
    if annotation is str:
        return "a non-empty string" if any(getattr(m, "min_length", 0) for m in metadata) else "a string"
    if annotation is Any:
        return "any value"
    if origin in (list, tuple) or annotation in (list, tuple):
        items = typing.get_args(annotation)
        return f"a list, each {expected(items[0])}" if items and items[0] is not Any else "a list"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        pair = typing.get_args(annotation)
        if len(pair) == 2 and typing.get_origin(pair[0]) is Literal:
            return f"a mapping of {', '.join(map(str, typing.get_args(pair[0])))} to {expected(pair[1])}"
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def _number(kind: str, metadata: list[Any]) -> str:
    """'a finite number > 0', 'a number in [0, 1)', 'an integer >= 1': the words the checks have always used."""
    def bound(name: str, bracket: str) -> tuple[Any, str] | None:  # pydantic's Ge, Gt, Le, Lt constraints
        return next(((getattr(m, name), bracket) for m in metadata if getattr(m, name, None) is not None), None)

    low = bound("ge", "[") or bound("gt", "(")
    high = bound("le", "]") or bound("lt", ")")
    if low and high:
        return f"{kind} in {low[1]}{low[0]}, {high[0]}{high[1]}"
    finite = "a finite number" if kind == "a number" else kind
    if low:
        return f"{finite} {'>=' if low[1] == '[' else '>'} {low[0]}"
    if high:
        return f"{finite} {'<=' if high[1] == ']' else '<'} {high[0]}"
    return finite


def field_expected(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    custom = (info.json_schema_extra or {}).get("expected") if isinstance(info.json_schema_extra, dict) else None
    return custom or expected(info.annotation, info.metadata)


# --- A pydantic ValidationError in one line ---

def _config_error(error: ValidationError, model: type[BaseModel], section: str, values: Mapping[str, Any]) -> Exception:
    """The ConfigError to raise: a validator's own (a DataError, say) as it was raised, else `explain`'s line."""
    first = error.errors(include_url=False)[0]
    raised = first.get("ctx", {}).get("error") if first["type"] == "value_error" else None
    return raised if isinstance(raised, ConfigError) else ConfigError(explain(error, model, section, values))


def explain(error: ValidationError, model: type[BaseModel], section: str, values: Mapping[str, Any]) -> str:
    """The first of the errors, worded for a person: key, value and what is valid."""
    first = error.errors(include_url=False)[0]
    prefix = f"{section}." if section else ""
    if first["type"] == "value_error":  # a validator's own ConfigError: its message is the line
        return str(first["ctx"]["error"])
    owner, path = _owner(model, first["loc"])
    key = prefix + ".".join(map(str, path))
    if first["type"] == "extra_forbidden":
        return str(unknown_key(key, owner.model_fields))
    if first["type"] == "missing":
        return f"{key} is missing: expected {field_expected(owner, str(path[-1]))} (the config group's YAML sets it)"
    value = _value_at(values, path)
    if owner is not None and str(path[-1]) in owner.model_fields:
        return str(bad(key, value, field_expected(owner, str(path[-1]))))
    return f"{key}={value!r} is invalid: {first['msg'][0].lower()}{first['msg'][1:]}"


def _owner(model: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list]:
    """The model that owns the field a pydantic location ends at, and the location's keys (union branches and
    list indices of pydantic's own dropped)."""
    owner: Any = model
    path: list = []
    for part in loc:
        if isinstance(owner, type) and issubclass(owner, BaseModel) and part in owner.model_fields:
            path.append(part)
            inner = _model_in(owner.model_fields[part].annotation)
            if inner is None:
                return owner, path
            owner = inner
        elif isinstance(part, int):
            path.append(part)
        else:
            path.append(part)  # an unknown key of `owner`
            return owner, path
    return (owner if isinstance(owner, type) and issubclass(owner, BaseModel) else None), path


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The schema a field holds (through Optional and Annotated), or None for a plain value."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in map(_model_in, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _value_at(values: Any, path: list) -> Any:
    for part in path:
        if isinstance(values, Mapping) and part in values:
            values = values[part]
        elif isinstance(values, (list, tuple)) and isinstance(part, int) and part < len(values):
            values = values[part]
        else:
            return None
    return values

