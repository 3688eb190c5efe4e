"""What the Kafka side raises: topics that are not as the settings say; a producer used once its worker stopped it."""
from __future__ import annotations

import asyncio

from ..errors import PipelineError


class TopicMismatch(PipelineError):
    """A topic exists with another partition count than configured: shard routing and Faust's
    co-partitioning depend on the counts, so the worker refuses to start."""


class BusStopped(asyncio.CancelledError):
    """The worker's producer was stopped: the worker stops.

    A cancellation, not a :class:`PipelineError`: a job still ending when its worker stopped the producer under
    it (one that outlived the runner's stop wait) has not failed. Like the cancel the runner sent it, this passes
    every ``except Exception`` on the way, so the job ends here without an ERROR and without its message acked,
    and the worker that gets its partition resumes it (see :mod:`pipeline.ops.runner`).
    """
