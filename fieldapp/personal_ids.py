"""Finnish personal identity codes (henkilötunnus) in free text: field records must not identify people."""

import re
from datetime import date

_CONTROL = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900,
            "A": 2000, "B": 2000, "C": 2000, "D": 2000, "E": 2000, "F": 2000}
_SIX_DIGITS = re.compile(r"\d{6}")
_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+A-FU-Y])(\d{3})([0-9A-Ya-y])(?![0-9A-Za-z])", re.IGNORECASE)


def find_identity_codes(text: str) -> list[str]:
    """Valid identity codes (date and control character both check out) found in the text."""
    found: list[str] = []
    if not text or not _SIX_DIGITS.search(text):  # the usual note, scanned once for what every code starts with
        return found
    for match in _PATTERN.finditer(text):
        dd, mm, yy, sep, serial, control = match.groups()
        century = _CENTURY.get(sep.upper())
        if century is None:
            continue
        try:
            date(century + int(yy), int(mm), int(dd))
        except ValueError:
            continue
        if _CONTROL[int(dd + mm + yy + serial) % 31] == control.upper():
            found.append(match.group(0))
    return found
