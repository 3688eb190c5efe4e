"""What the parse pool raises: the load's job ends in ERROR with the message."""
from __future__ import annotations

from ..errors import PipelineError


class ParseError(PipelineError):
    """A block of a load that no parse process could turn into rows."""


class ParseProcessDied(ParseError):
    """The parse process reading a load's blocks ended before it answered."""


class ParseFailed(ParseError):
    """A parse process failed on a block with an error the pipeline did not mean (a bug): it says which."""
