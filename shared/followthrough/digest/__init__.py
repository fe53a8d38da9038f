"""The weekly digest: rendering the report into an email people want to open."""

from followthrough.digest.render import DigestLinks, RenderedDigest, render_digest

__all__ = ["DigestLinks", "RenderedDigest", "render_digest"]
