"""Per-image label measurement: cells, mitochondria, background, label statistics, skeletons."""
