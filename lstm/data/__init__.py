"""Data: batching that is a pure function of the step (exact resume)."""

from .batching import ShuffledBatches, StreamBatches, StreamChunk

__all__ = ["ShuffledBatches", "StreamBatches", "StreamChunk"]
