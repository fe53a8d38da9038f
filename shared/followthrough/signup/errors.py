"""Expected refusals of the sign-up API: light enough for the handler to import at cold start."""

from __future__ import annotations


class SignupError(Exception):
    """An expected refusal: shown to the person as a page with this status, title and message."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
