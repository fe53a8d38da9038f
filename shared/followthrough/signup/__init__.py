"""The sign-up: the form, X's OAuth 2.0 with PKCE, double opt-in, unsubscribe and deletion.

``forms`` (what is accepted), ``csrf`` (anti-forgery tokens), ``pages`` (Jinja2),
``service`` (the subscriber lifecycle), ``web`` (the HttpApi routes).
"""
