"""Finnish personal identity codes (henkilötunnus) in free text: field records must not identify people.

A code is DDMMYY, a century sign, a three-digit individual number and a control character
(DDMMYYNNN mod 31 in "0123456789ABCDEFHJKLMNPRSTUVWXY"). Found here, when the date and the control character
both check out:
- the official form with any century sign: + (1800s), - and U-Y (1900s), A-F (2000s), either case;
- the same digits spaced, slashed or joined (`131052 308T`, `131052/308T`, `131052 - 308T`, `131052308T`);
- with letters glued in front (`hetu131052-308T`), with zero-width or other invisible characters, combining
  marks, full-width or other-script digits or a dash other than the hyphen anywhere inside.

No false positives on ordinary numbers (phone numbers, dates, times, counts, ranges). Where the century sign is
missing, a control *digit* makes the text the same as two ordinary numbers (`101100 1234`: a count and a time)
or a phone number (`0401234567`), so there a code counts only with a control letter, or when it is written as
ten joined digits not starting with 0 (a Finnish phone number does). tests/test_personal_ids.py checks both
ways with Hypothesis.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_CONTROL = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900,
            "A": 2000, "B": 2000, "C": 2000, "D": 2000, "E": 2000, "F": 2000}
_CODE = re.compile(
    r"(?<![0-9])([0-9]{6})"
    r"(?:([-+A-FU-Y])|([\s/\\]*(?:[-+][\s/\\]*)?))"  # a century sign, or spaces, slashes, a spaced dash, nothing
    r"([0-9]{3})([0-9A-Y])(?![0-9])", re.IGNORECASE)
_SIX_DIGITS = re.compile("[0-9]{6}")
# A digit, or a character the scan reads as one (superscripts, subscripts, circled and other compatibility digits).
_DIGIT = re.compile(r"[\d\u00b2\u00b3\u00b9\u2070-\u2089\u2460-\u249b\u24ea-\u24ff\u2776-\u2793]")
# Looked through when scanning: controls but tab and line breaks, Unicode's default-ignorable code points
# (zero-width spaces and joiners, soft hyphen, bidi controls, variation selectors, tags, ...) and combining marks.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    "\ud800-\udfff]")
_DASHES = re.compile("[\u2010-\u2015\u2212\u2796\ufe58\ufe63\uff0d]")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def _scanned(text: str) -> str:
    """The text as the scan reads it: invisible characters gone, compatibility forms folded (full-width digits,
    no-break spaces), every dash a hyphen and every decimal digit an ASCII one."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKD", text))
    if text.isascii():  # the usual Finnish or Swedish text once its letters lost their dots
        return text
    return _OTHER_DIGIT.sub(lambda match: str(unicodedata.decimal(match.group())), _DASHES.sub("-", text))


def _valid_date(dd: str, mm: str, yy: str, century: int | None) -> bool:
    """The date exists (in the century given, or in any: only 29 February depends on it, and 2000 was leap)."""
    try:
        date((2000 if century is None else century) + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def find_identity_codes(text: str) -> list[str]:
    """Identity codes (date and control character both check out) found in the text, as the scan read them."""
    found: list[str] = []
    if not text or _DIGIT.search(text) is None:  # the usual note: one scan for the digit every code has
        return found
    if not (text.isascii() and text.isprintable()):  # anything but plain ASCII on one line is read as it looks
        text = _scanned(text)
    if _SIX_DIGITS.search(text) is None:  # every code starts with six digits in a row
        return found
    for match in _CODE.finditer(text):
        digits, sign, between, serial, control = match.groups()
        control = control.upper()
        if sign is None and control.isdigit() and (between or digits[0] == "0"):
            continue  # no century sign and a control digit: as likely two ordinary numbers or a phone number
        if not _valid_date(digits[:2], digits[2:4], digits[4:], _CENTURY[sign.upper()] if sign else None):
            continue
        if _CONTROL[int(digits + serial) % 31] == control:
            found.append(match.group(0))
    return found
