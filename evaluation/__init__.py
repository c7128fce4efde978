"""Measuring accuracy: labelled datasets, cached embeddings, calibration tables and evaluation protocols."""
