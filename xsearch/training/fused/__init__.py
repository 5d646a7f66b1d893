"""Training the seeds of one design point together, as one fused network (xsearch/training/fused/network.py)."""
