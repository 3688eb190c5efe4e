"""The one base of every error the pipeline raises on purpose.

Each package keeps its own errors in its ``exceptions`` module, derived from
:class:`PipelineError`; only :class:`pipeline.contract.errors.HarperError`
carries an HTTP status, because only Harper's answers have one. Catching
``PipelineError`` catches what the pipeline meant to report, and nothing
that is a bug.
"""
from __future__ import annotations


class PipelineError(Exception):
    """An error the pipeline raises on purpose: its message is meant for a person."""
