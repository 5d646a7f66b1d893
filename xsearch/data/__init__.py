"""The datasets a run trains on, each as a Lightning datamodule built from its own settings."""

from xsearch.data.registry import DATASETS, build_datamodule, data_settings
from xsearch.data.settings import DataError, DataSettings

__all__ = ["DATASETS", "DataError", "DataSettings", "build_datamodule", "data_settings"]
