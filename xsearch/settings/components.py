"""Samplers and pruners from their config nodes: a short name xsearch knows, or any class by Hydra's `_target_`.

`sweep.sampler` and `sweep.pruner` each hold `name`, `_target_` and the class's arguments. `_target_` (a dotted
path such as `optuna.samplers.GPSampler`), when set, names the class and `name` is ignored; otherwise `name`
picks one of the short names below. `grid` is xsearch's own sampler, built by the sweep settings, because it
needs the search space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from xsearch.schema import ConfigError
from xsearch.settings.targets import check_installed

GRID = "grid"
SAMPLERS = {GRID: None, "tpe": "optuna.samplers.TPESampler", "random": "optuna.samplers.RandomSampler",
            "nsga2": "optuna.samplers.NSGAIISampler", "gp": "optuna.samplers.GPSampler",
            "cmaes": "optuna.samplers.CmaEsSampler", "qmc": "optuna.samplers.QMCSampler"}
PRUNERS = {"none": "optuna.pruners.NopPruner", "median": "optuna.pruners.MedianPruner",
           "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
           "hyperband": "optuna.pruners.HyperbandPruner", "wilcoxon": "optuna.pruners.WilcoxonPruner"}
KEYS = ("name", "_target_")  # what a node holds besides the class's own arguments


def target(kind: str, node: Mapping[str, Any], table: Mapping[str, str | None]) -> str | None:
    """The dotted class path the node names (None for xsearch's grid), checked."""
    named = node.get("_target_")
    if named is not None:
        if not isinstance(named, str) or "." not in named:
            raise ConfigError(f"sweep.{kind}._target_={named!r} is invalid: expected a dotted class path such as "
                              f"{next(v for v in table.values() if v)}")
        return named
    name = node.get("name")
    if name not in table:
        raise ConfigError(f"sweep.{kind}.name={name!r} is invalid: expected one of {', '.join(table)}, or a class "
                          f"by sweep.{kind}._target_")
    return table[name]


def arguments(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in KEYS}


def build(kind: str, node: Mapping[str, Any], table: Mapping[str, str | None], base: type) -> Any:
    """The Optuna object the node names, with its arguments (nested `_target_`s too, e.g. a PatientPruner's
    wrapped pruner)."""
    path = target(kind, node, table)
    check_installed(f"sweep.{kind}", {"_target_": path})  # e.g. CMA-ES's own package, before any trial is asked
    try:
        built = instantiate({"_target_": path, **arguments(node)}, _convert_="all")
    except InstantiationException as error:  # no such class, or an argument it does not take
        cause = error.__cause__ or error
        given = list(arguments(node))
        hint = (f" (given: {', '.join(given)}; a name switched from another {kind} keeps that one's arguments: "
                f"drop them with {' '.join(f'~sweep.{kind}.{k}' for k in given)})"
                if isinstance(cause, TypeError) and given else "")
        raise ConfigError(f"sweep.{kind} ({path}): {type(cause).__name__}: {cause}{hint}") from None
    if not isinstance(built, base):
        raise ConfigError(f"sweep.{kind}._target_={path} is a {type(built).__name__}, not an Optuna "
                          f"{base.__name__}")
    return built


def is_grid(node: Mapping[str, Any]) -> bool:
    return node.get("_target_") is None and node.get("name") == GRID


def build_sampler(node: Mapping[str, Any]) -> optuna.samplers.BaseSampler:
    """Any sampler but the grid (the sweep settings build that one: it needs the space)."""
    return build("sampler", node, SAMPLERS, optuna.samplers.BaseSampler)


def build_pruner(node: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    return build("pruner", node, PRUNERS, optuna.pruners.BasePruner)

