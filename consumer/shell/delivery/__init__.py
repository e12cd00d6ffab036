"""Ordered, concurrent delivery to one destination: the worker, its sender, batches, limits."""
