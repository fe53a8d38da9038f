"""The one Jinja2 setup every page and email uses: HTML autoescaped, undefined names an error."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment


@cache
def environment(folder: str = "templates", finalize: Callable[[Any], Any] | None = None) -> Environment:
    """Templates under the package's ``folder``; ``*.html.j2`` autoescape, plain-text ones do not."""
    # Imported on the first render, not with the module: the sign-up function's cold
    # start serves requests that render nothing (the redirect to X, one-click unsubscribe).
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("followthrough", folder),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
