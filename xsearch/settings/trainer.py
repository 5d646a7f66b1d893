"""The `trainer` config group: any pytorch_lightning.Trainer argument, checked without importing Lightning.

The argument names are Lightning's, listed here so that a typo is answered before Lightning loads;
tests/test_settings.py holds the list equal to the installed Lightning's `Trainer.__init__`. A few arguments
get types and ranges of their own: those that decide whether anything trains at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from xsearch.schema import ConfigError, Schema, unknown_key

TRAINER_ARGS = (
    "accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks", "fast_dev_run",
    "max_epochs", "min_epochs", "max_steps", "min_steps", "max_time", "limit_train_batches", "limit_val_batches",
    "limit_test_batches", "limit_predict_batches", "overfit_batches", "val_check_interval",
    "check_val_every_n_epoch", "num_sanity_val_steps", "log_every_n_steps", "enable_checkpointing",
    "enable_progress_bar", "enable_model_summary", "accumulate_grad_batches", "gradient_clip_val",
    "gradient_clip_algorithm", "deterministic", "benchmark", "inference_mode", "use_distributed_sampler",
    "profiler", "detect_anomaly", "barebones", "plugins", "sync_batchnorm", "reload_dataloaders_every_n_epochs",
    "default_root_dir", "enable_autolog_hparams", "model_registry",
)
# Trainer arguments xsearch fills itself.
RESERVED = ("logger", "callbacks", "default_root_dir", "enable_checkpointing")
PRECISIONS = ("64", "32", "16", "bf16", "16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true",
              "transformer-engine", "transformer-engine-float16")


class TrainerSettings(Schema):
    """The arguments whose values decide whether a run trains at all, typed; every other Trainer argument is
    passed on as it is (Lightning checks it when the Trainer is built, still before training)."""

    section = "trainer"

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    # -1: no limit. 0 would train nothing and still "complete".
    max_epochs: Annotated[int, Field(ge=1)] | Literal[-1] | None = None
    max_steps: Annotated[int, Field(ge=1)] | Literal[-1] = -1
    limit_train_batches: Annotated[float, Field(gt=0)] | None = None
    devices: Annotated[int, Field(ge=1)] | Literal[-1] | str | list[int] = 1
    precision: Literal[64, 32, 16] | Literal[PRECISIONS] | None = None  # type: ignore[valid-type]
    accelerator: str = "auto"

    @model_validator(mode="before")
    @classmethod
    def _known(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            for key in values:
                if key in RESERVED:
                    raise ConfigError(f"trainer.{key} is set by xsearch; use the logger or callbacks group "
                                      "(logger=csv, callbacks=early_stopping) or the top-level `checkpoint` key")
                if key not in TRAINER_ARGS:
                    raise unknown_key(f"trainer.{key}", [a for a in TRAINER_ARGS if a not in RESERVED])
        return values

    def kwargs(self) -> dict[str, Any]:
        """Every argument as given, for pytorch_lightning.Trainer."""
        return self.model_dump(exclude_unset=True)
