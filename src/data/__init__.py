"""Data: benchmark readers, checks, synthetic rain/snow, the training pipeline and MindRecord.

image_io (decode any image to uint8 RGB, atomic writes) · readers (pairs in native layouts) ·
check (found, decodable, equal size) · synth (rain, snow, demo set) · pipeline (balanced training
batches, test iterator) · mindrecord (conversion and reading). Entry point: prepare_data.py.
"""
