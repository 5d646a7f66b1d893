"""The spectrum network, its plan and its cost."""

from xsearch.model.budget import WidthSolution, solve_width
from xsearch.model.config import XceptionConfig
from xsearch.model.cost import Cost, cost
from xsearch.model.network import Xception, build_model
from xsearch.model.spec import NetSpec, resolve
from xsearch.validate import ConfigError

__all__ = ["ConfigError", "Cost", "NetSpec", "WidthSolution", "Xception", "XceptionConfig", "build_model", "cost",
           "resolve", "solve_width"]
