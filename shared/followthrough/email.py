"""MIME messages for every email the product sends (digest, confirmation, reconnect)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    images: dict[str, bytes] | None = None,
    now: datetime | None = None,
) -> bytes:
    """A ``multipart/alternative`` message (text, then HTML); ``images`` are PNGs referenced by Content-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
        if images:
            html_part = message.get_body(preferencelist=("html",))
            if not isinstance(html_part, EmailMessage):
                raise TypeError("the HTML part went missing")
            for cid, png in images.items():
                html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>")
    # RFC 5322 allows 998-character lines; folding at 78 would turn a long
    # List-Unsubscribe URL into an encoded word that mail clients do not read
    return message.as_bytes(policy=message.policy.clone(max_line_length=998))
