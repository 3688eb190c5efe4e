"""What the Kafka side raises: topics that are not as the settings say."""
from __future__ import annotations

from ..errors import PipelineError


class TopicMismatch(PipelineError):
    """A topic exists with another partition count than configured: shard routing and Faust's
    co-partitioning depend on the counts, so the worker refuses to start."""
