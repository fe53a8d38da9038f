"""The one error an archive can fail with, and how a validation problem is worded in it."""

from __future__ import annotations

from pydantic import ValidationError


class ArchiveError(Exception):
    """A missing, corrupt or unexpected archive file; the message names the file and what was expected."""


def problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"corrupt or truncated JSON ({first['msg']})"
    where = " > ".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"unexpected content at entry {where}: {first['msg']}{more}"
