"""Deliver Segment events from Kafka to Movable Ink, in order per person."""

__version__ = "0.1.0"
