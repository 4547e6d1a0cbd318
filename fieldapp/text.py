"""Free text as it is stored: one normaliser for everything a person types (record notes and place names,
deployment names and notes, alert messages, display names) and for the odd text a device sends (device times).

No fieldapp imports (foundation). What it does to a text: NFC (the same letter is stored the same way however it
was typed); NUL and the other control characters removed, except tab, newline and carriage return; bidirectional
controls (embeddings, overrides, isolates, marks) removed, so a note cannot show itself reversed; lone surrogates
removed (they cannot be stored as UTF-8). Zero-width characters are kept (emoji sequences and some scripts need
them): fieldapp.personal_ids looks through them.
"""

from __future__ import annotations

import re
import unicodedata

# Never wanted in stored text (see the module docstring).
UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(text: str) -> str:
    """The text as stored: NFC, without control characters (but tab and line breaks), bidi controls or lone
    surrogates. Quick for the usual text: one scan when nothing needs doing."""
    if UNWANTED.search(text) is not None:
        text = UNWANTED.sub("", text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def clean_value(value):
    """clean() for a text, anything else as it is (the caller's type check answers for it)."""
    return clean(value) if type(value) is str else value
