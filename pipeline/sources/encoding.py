"""The text encoding of a CSV source: UTF-8, another one detected from its bytes, or the operation's ``encoding``.

A file is decoded strictly, never by replacing a byte. While every line read
is ASCII the encoding is undecided, since UTF-8 and every encoding allowed
here read ASCII alike; the first line that is not decides. Valid UTF-8 makes
it UTF-8; anything else is detected (charset-normalizer) from that line and
the lines read after it, and the file is read in what was detected from the
start, since everything before was ASCII. A line the chosen encoding cannot
read ends the job with its line and byte offset, and how to name the
encoding with the operation's ``encoding`` field.

Lines are split as bytes before they are decoded, so an encoding must write
ASCII as ASCII (UTF-8, the ISO-8859 and Windows code pages, Shift_JIS,
GB18030, Big5...); a UTF-16 or UTF-32 file is refused with how to convert it.
"""
from __future__ import annotations

from typing import Callable

import charset_normalizer

from ..contract.validate_jobs import text_encoding
from .exceptions import EncodingError
from .rows import UTF8

#: bytes of the following lines looked at to detect an encoding
SAMPLE_BYTES = 64 * 1024
#: when several encodings read a sample equally well (cp1250, cp1252 and latin_1 read "é" alike), the one
#: met most often wins: a Western European file is far more often Windows-1252 than Central European
PREFERRED = ("utf_8", "cp1252", "latin_1", "iso8859_15", "cp1251", "cp1250", "shift_jis", "cp932", "gb18030",
             "gbk", "big5", "euc_kr", "euc_jp")
_WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
              b"\xfe\xff": "UTF-16"}

_HINT = "give the operation an \"encoding\" field naming the file's encoding (for example \"cp1252\" or \"utf-8\")"


def nul_bytes(raw: bytes, line: int, offset: int) -> EncodingError:
    """A line with NUL bytes: a UTF-16 or UTF-32 file (said by its byte order mark), or not text at all."""
    if offset == 0:
        for bom, name in _WIDE_BOMS.items():
            if raw.startswith(bom):
                return EncodingError(f"the file is {name} (it starts with a byte order mark): convert it to "
                                     f"UTF-8 first, for example with iconv -f {name} -t UTF-8", line)
    return EncodingError(f"line {line} contains NUL bytes: the file looks binary, not CSV", line)


def detect(sample: bytes) -> str | None:
    """The encoding that reads ``sample`` best (Python's name for it), or None if none reads it as text.

    Best: the least chaos (mess), then the most coherence (how much the text
    reads like a language), then :data:`PREFERRED` among the encodings that
    read it alike. charset-normalizer's own
    ``best()`` may pick a less coherent one of the least chaotic (it read
    Northwind's ISO-8859-1 Customers.csv as Windows-1250: "pčre" for "père").
    """
    matches = list(charset_normalizer.from_bytes(sample))
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    calm = [m for m in matches if m.chaos == least]
    most = max(m.coherence for m in calm)
    # a match stands for every encoding that reads the sample alike (cp1252 hides behind cp1250 for "café")
    tied = [name for m in calm if m.coherence == most for name in (m.encoding, *m.could_be_from_charset)]
    return next((name for name in PREFERRED if name in tied), tied[0])


class Decoder:
    """Decodes a source's lines one by one, deciding its encoding at the first line that is not ASCII.

    ``encoding``: given by the operation (it never changes), or what a
    previous reader of the same source decided (a resumed load); None:
    undecided so far.
    """

    def __init__(self, encoding: str | None = None, given: bool = False) -> None:
        self.encoding = encoding
        self.given = given

    def decode(self, raw: bytes, line: int, offset: int, ahead: Callable[[], bytes]) -> str:
        """One line (``offset``: its first byte's); ``ahead``: the bytes read after it, to detect from."""
        if self.encoding is None:
            if raw.isascii():
                return raw.decode("ascii")
            try:
                text = raw.decode(UTF8)
            except UnicodeDecodeError:
                self.encoding = self._detect(raw + ahead()[:SAMPLE_BYTES], line, offset)
            else:
                self.encoding = UTF8
                return text
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as err:
            raise self._unreadable(line, offset + err.start) from None

    def _detect(self, sample: bytes, line: int, offset: int) -> str:
        found = detect(sample)
        usable = text_encoding(found) if found else None
        if usable is None:
            what = f"it looks like {found}, which this loader cannot split into lines" if found else \
                "no text encoding reads it"
            raise EncodingError(f"line {line} (byte offset {offset}) is not UTF-8 and its encoding could not be "
                                f"determined ({what}): {_HINT}", line)
        return usable

    def _unreadable(self, line: int, offset: int) -> EncodingError:
        if self.given:
            why = f"cannot be read as {self.encoding}, the operation's encoding"
        elif self.encoding == UTF8:
            why = "is not valid UTF-8, though the lines before it are: the file mixes encodings"
        else:
            why = f"cannot be read as {self.encoding}, the encoding detected for this file"
        return EncodingError(f"line {line} (byte offset {offset}) {why}; {_HINT}", line)
