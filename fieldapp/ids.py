"""Record ids: UUIDv7, time-ordered, so a client can make them and inserts stay fast."""

import re

import uuid_utils

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
UUID_RE = re.compile(_UUID)  # use fullmatch
ID_PATTERN = rf"\A{_UUID}\Z"  # a whole id, for msgspec.Meta(pattern=...), which searches


def new_id() -> str:
    """A new UUIDv7 as lower-case text."""
    return str(uuid_utils.uuid7())


def is_valid_id(value: str) -> bool:
    """True for a lower-case UUID with RFC 4122 variant (any version a client may send)."""
    return isinstance(value, str) and UUID_RE.fullmatch(value) is not None
