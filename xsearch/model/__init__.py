"""The spectrum network, its plan and its cost.

The knobs (`XceptionConfig`), the plan and the cost need no torch; the network does, and is imported only
when asked for, so reading a config's knobs stays light (the app registers `model=xception` from them).
"""

from xsearch.model.budget import Budget, WidthSolution, solve_width
from xsearch.model.config import XceptionConfig
from xsearch.model.cost import Cost, cost
from xsearch.model.spec import NetSpec, resolve
from xsearch.schema import ConfigError

__all__ = ["Budget", "ConfigError", "Cost", "NetSpec", "WidthSolution", "Xception", "XceptionConfig", "build_model",
           "cost", "resolve", "solve_width"]


def __getattr__(name: str):
    if name in ("Xception", "build_model"):
        from xsearch.model import network

        return getattr(network, name)
    raise AttributeError(f"module 'xsearch.model' has no attribute {name!r}")
