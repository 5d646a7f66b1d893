"""Optuna studies as xsearch keeps them: where they live (storage URLs), the few private Optuna calls xsearch
needs (one adapter, `optuna_private`), and reading back which trials count. Below both the sweep, which
writes studies, and the report, which reads them; it loads neither torch nor Lightning."""
