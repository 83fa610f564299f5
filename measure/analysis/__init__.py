"""Batch-table analytics: SP/MP gating, statistics, figures, simulated cell tables."""
