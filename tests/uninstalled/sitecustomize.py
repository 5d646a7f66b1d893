"""Put on PYTHONPATH, with XSEARCH_TEST_UNINSTALLED=<module>,<module>: those packages behave as if they were not
installed (an import fails with ModuleNotFoundError, importlib.util.find_spec returns None), as on a machine
that installed xsearch without them."""

import os
import sys

for name in filter(None, os.environ.get("XSEARCH_TEST_UNINSTALLED", "").split(",")):
    sys.modules[name] = None
