"""The datasets a run trains on, each as a Lightning datamodule built from `DataSettings`."""

from xsearch.data.build import build_datamodule
from xsearch.data.settings import DataError, DataSettings

__all__ = ["DataError", "DataSettings", "build_datamodule"]
