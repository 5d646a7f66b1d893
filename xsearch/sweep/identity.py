"""A study is what its config says: the resolved config it computes is stored with it, and a sweep whose config
differs is refused, naming the keys, instead of counting another config's trials as its own.

What says how a sweep is executed, not what it computes, is left out, so a study can be resumed with more
workers, another storage URL, a longer time limit or another logger. A grid's space may gain values (not its
`sweep.points`, which are part of the config): the study then continues and runs only the new points; a decided
study that has looked at its verdicts may not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, distribution_to_json, json_to_distribution
from optuna.storages import BaseStorage

from xsearch import contract
from xsearch.inference import sequential
from xsearch.redact import redact
from xsearch.schema import ConfigError
from xsearch.settings import components
from xsearch.settings.sweep import SweepSettings
from xsearch.studies import widen
from xsearch.studies.lock import study_lock

# sweep.* keys that say how the sweep runs (the schema marks them); sweep.space is compared on its own (a grid may
# grow).
EXECUTION_KEYS = SweepSettings.execution_keys()
IGNORED_GROUPS = ("logger", "hydra")
# Where the data is, not what it is: a study continues on another machine whose copy lies elsewhere. Each
# trial records the identity of the images it was scored on, and the report pairs trials only on the same ones.
LOCATIONS = ("data.root", "data.cache_dir")
SHOWN = 8  # differing keys named in the error; the rest are counted


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping) and node:
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: json.loads(json.dumps(node, default=str))}  # as stored: tuples become lists


def config_identity(base: Mapping[str, Any], settings: SweepSettings) -> dict[str, Any]:
    """{dotted key: value} of everything the study computes."""
    sweep = {key: getattr(settings, key) for key in type(settings).model_fields if key not in EXECUTION_KEYS}
    kept = {key: value for key, value in base.items() if key not in IGNORED_GROUPS and key != "sweep"}
    return {key: value for key, value in _flat({**kept, "sweep": sweep}).items() if key not in LOCATIONS}


def space_identity(settings: SweepSettings) -> dict[str, str]:
    return {key: distribution_to_json(d) for key, d in settings.search_space.distributions.items()}


_ABSENT = object()


def _shown(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(redact(value))


def config_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(current))
    return [f"{key}: {_shown(stored.get(key, _ABSENT))} -> {_shown(current.get(key, _ABSENT))}"
            for key in keys if stored.get(key, _ABSENT) != current.get(key, _ABSENT)]


def _grows(old: BaseDistribution, new: BaseDistribution) -> bool:
    """Whether `new` keeps every value of `old` on the same grid and adds some."""
    if isinstance(old, CategoricalDistribution) and isinstance(new, CategoricalDistribution):
        return set(old.choices) <= set(new.choices)
    if type(old) is not type(new) or old.log or new.log or old.step is None or old.step != new.step:
        return False
    return new.low <= old.low and new.high >= old.high and (old.low - new.low) % new.step == 0


def space_differences(stored: Mapping[str, str], current: Mapping[str, str], grid: bool) -> list[str]:
    """What changed in the space beyond a grid gaining values (which continues the study)."""
    found = []
    for key in sorted(set(stored) | set(current)):
        if key not in stored or key not in current:
            found.append(f"sweep.space.{key}: {'added' if key in current else 'removed'}")
            continue
        old, new = json_to_distribution(stored[key]), json_to_distribution(current[key])
        if old != new and not (grid and _grows(old, new)):
            found.append(f"sweep.space.{key}: {_describe(old)} -> {_describe(new)}")
    return found


def _describe(d: BaseDistribution) -> str:
    if isinstance(d, CategoricalDistribution):
        return json.dumps(list(d.choices))
    return f"{type(d).__name__}(low={d.low}, high={d.high}, step={d.step}, log={d.log})"


def open_study(storage: BaseStorage, base: Mapping[str, Any], settings: SweepSettings, *,
               sampler: optuna.samplers.BaseSampler | None, pruner: optuna.pruners.BasePruner,
               shown_url: str) -> optuna.Study:
    """The sweep's study, created or loaded. Refuses one run with another config; records this config on a new
    study; widens a grown grid's choices. Serialized across worker jobs by the study's own lock, so that only one
    of them records or widens."""
    config, space = config_identity(base, settings), space_identity(settings)
    grid = components.is_grid(settings.sampler)
    with study_lock(storage, settings.name):
        widen.recover(storage, settings.name)  # first: a crashed widening's copy is the study
        study = optuna.create_study(storage=storage, study_name=settings.name, sampler=sampler, pruner=pruner,
                                    directions=settings.directions, load_if_exists=True)
        attrs = study.user_attrs
        if contract.STUDY_CONFIG in attrs:
            differences = (config_differences(attrs[contract.STUDY_CONFIG], config)
                           + space_differences(attrs.get(contract.STUDY_SPACE, {}), space, grid))
            if differences:
                more = f" (and {len(differences) - SHOWN} more)" if len(differences) > SHOWN else ""
                raise ConfigError(
                    f"study {settings.name!r} in {shown_url} was run with another config, so its trials are not "
                    f"this sweep's: {'; '.join(differences[:SHOWN])}{more}. Give this sweep its own study with "
                    f"sweep.name=<new name> or sweep.dir=<another folder>, or run the original config to continue it")
        stored_space = attrs.get(contract.STUDY_SPACE, space)
        wider = {key: d for key, d in settings.search_space.distributions.items()
                 if key in stored_space and stored_space[key] != space[key] and isinstance(d, CategoricalDistribution)}
        decided = sequential.Record.of(attrs.get(contract.DECIDE))
        if wider and study.trials and decided is not None and decided.looks:
            raise ConfigError(
                f"sweep.space: study {settings.name!r} decides as it goes (sweep.decide) and has already looked at its "
                f"verdicts, each look spending its share of the error rate on this grid: its grid cannot gain values "
                f"({', '.join(sorted(wider))}) now. Give the larger grid its own study with sweep.name=<new name>")
        if wider and study.trials:
            count = len(widen.widen(storage, settings.name, wider).trials)
            print(f"xsearch sweep: the grid gained values ({', '.join(sorted(wider))}); continuing study "
                  f"{settings.name!r} with its {count} trial(s)", flush=True)
            study = optuna.load_study(study_name=settings.name, storage=storage, sampler=sampler, pruner=pruner)
        study.set_user_attr(contract.STUDY_CONFIG, config)
        study.set_user_attr(contract.STUDY_SPACE, space)
    return study
