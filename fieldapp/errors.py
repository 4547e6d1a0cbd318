"""The domain's shared errors: every area raises these, the web layer turns them into 403/404/400 pages.

A module of their own (no imports from the areas) so that no area imports another just for an exception.
"""

from __future__ import annotations


class NotFound(LookupError):
    """No such thing (or not visible to this user: the same answer, so ids do not leak)."""


class Forbidden(PermissionError):
    """The user's role or assignments do not allow this."""


class ValidationFailed(ValueError):
    """Field errors, already translated into the current language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors
