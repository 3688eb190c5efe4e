"""What a source raises when it cannot be read: the job ends in ERROR with the message, word for word."""
from __future__ import annotations

from ..errors import PipelineError


class SourceError(PipelineError):
    """A load's source that cannot be read or parsed; the message says what and where."""


class CsvError(SourceError):
    """A CSV that cannot be loaded; the message names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class EncodingError(CsvError):
    """A CSV whose bytes cannot be read as text in its encoding (or none could be determined)."""


class JsonSourceError(SourceError):
    """A JSON source that cannot be loaded."""


class FileRefused(SourceError):
    """csv_file_load's path is not a regular file under the allowed directories (as opened, not as named)."""


class DataError(SourceError):
    """A csv_data_load's data that went beside its operation and cannot be decoded or read back."""


class UrlError(SourceError):
    """csv_url_load could not fetch its URL (Harper's ``CSV Load failed from URL: ...`` text)."""


class UrlRefused(UrlError):
    """The URL is one a worker must not fetch (not http(s), or an address that is not public)."""


class SourceStopped(SourceError):
    """The producer of a piped source stopped without ending it: the source was cut off, not finished."""


class SourceAborted(SourceError):
    """A read of a source was ended from outside: its job was stopped (its worker is stopping, or its
    partition moved), to resume elsewhere."""
