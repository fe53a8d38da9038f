"""The weekly digest: rendering the report into an email people want to open."""

from followthrough.digest.render import HTML_LIMIT_BYTES, DigestLinks, RenderedDigest, render_digest, subject_for
from followthrough.digest.view import DigestView, build_view

__all__ = [
    "HTML_LIMIT_BYTES",
    "DigestLinks",
    "DigestView",
    "RenderedDigest",
    "build_view",
    "render_digest",
    "subject_for",
]
