"""What a score means: the model pack's score tables (`tables`: score -> false-match rate, thresholds) and the
label-free calibration per cluster of faces (`fair`)."""
