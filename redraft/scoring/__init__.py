"""How sure the model is of a draft: the per-draft confidence score (`confidence.py`, pure)
and its per-project fit on past annotations (`calibration.py`)."""
