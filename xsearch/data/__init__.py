"""The datasets a run trains on: each one's settings and batch shape (xsearch/data/settings.py, no torch), and
its Lightning datamodule (built by xsearch/data/registry.py, importing torch only then)."""

from xsearch.data.registry import BUILDERS, build_datamodule
from xsearch.data.settings import SETTINGS, DataError, DataSettings, DataShape, data_settings

__all__ = ["BUILDERS", "SETTINGS", "DataError", "DataSettings", "DataShape", "build_datamodule", "data_settings"]
