"""Experiments that train many runs and compare them (``python study.py``): not part of training
or reporting a single model. ``fidelity``: where the network loses detail (patch size, heads)."""
