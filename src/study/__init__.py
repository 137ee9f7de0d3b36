"""Experiments that train many runs and compare them (``python study.py``), apart from training
or reporting one model: ``ablations`` (Table 3/4 and the strategies, several seeds) and
``fidelity`` (where the network loses detail: token size, the heads' full-resolution path)."""
