"""What a worker measures, for Prometheus: the instruments the work updates and the gauges read at scrape time.

Nothing here imports the rest of the pipeline: the packages that do the work
(the splitter's load, the shard writer, the sinks) update the instruments of
:class:`Metrics`, and the worker hands the scrape-time gauges the callables
that read its state (:mod:`pipeline.metrics.gauges`).
"""
from .instruments import Metrics, counted

__all__ = ["Metrics", "counted"]
