"""``django.core.validators``: ``validate_email`` (the default ``EmailValidator()``)."""

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .ops_validation import _ranges
from .registry import op


def _passes(value):
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _code_points(ranges):
    """The code points of ``[[first, last], ...]``, surrogates skipped."""
    for first, last in ranges:
        yield from (c for c in range(first, last + 1) if not 0xD800 <= c <= 0xDFFF)


@op("validators.validate_email_many")
def validate_email_many(values):
    """For each string, whether ``validate_email`` accepts it: one request for a whole corpus."""
    return [_passes(value) for value in values]


@op("validators.validate_email_sweep")
def validate_email_sweep(parts, ranges):
    """The code points ``c`` of ``ranges`` (``[[first, last], ...]``) for which
    ``validate_email(c.join(parts))`` passes, as ranges: a whole plane in one answer."""
    return _ranges(c for c in _code_points(ranges) if _passes(chr(c).join(parts)))


@op("unicodedata.unassigned_in_3_2")
def unassigned_in_3_2():
    """The code points Python's Unicode 3.2 database (``unicodedata.ucd_3_2_0``, the one ``encodings.idna``
    normalizes with) leaves unassigned, as ranges."""
    everything = _code_points([[0, 0x10FFFF]])
    return _ranges(c for c in everything if unicodedata.ucd_3_2_0.category(chr(c)) == "Cn")
