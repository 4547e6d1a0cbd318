"""Record ids: UUIDv7, time-ordered, so a client can make them and inserts stay fast."""

import re

import uuid_utils

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
UUID_RE = re.compile(_UUID)  # use fullmatch
ID_PATTERN = rf"\A{_UUID}\Z"  # a whole id, for msgspec.Meta(pattern=...), which searches
_UUID_LINES = re.compile(f"(?:{_UUID}\n)*{_UUID}")


def new_id() -> str:
    """A new UUIDv7 as lower-case text."""
    return str(uuid_utils.uuid7())


def is_valid_id(value: str) -> bool:
    """True for a lower-case UUID with RFC 4122 variant (any version a client may send)."""
    return isinstance(value, str) and UUID_RE.fullmatch(value) is not None


def ids_all_valid(values: list) -> bool:
    """True when every value is a valid id (is_valid_id), checked with one match over all of them: with the
    length of n ids and n - 1 line breaks, no value can hide a line break of its own."""
    if not values or not all(type(value) is str for value in values):
        return False
    joined = "\n".join(values)
    return len(joined) == 37 * len(values) - 1 and _UUID_LINES.fullmatch(joined) is not None
