"""The sign-up in a real browser (Debian's chromium, headless) against ``make serve``'s server:
the form, its errors, X's authorization page, the confirmation email, unsubscribe and delete."""

from __future__ import annotations

import email
import email.policy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from followthrough.links import link
from followthrough_devkit.serve import SignupServer, start_server

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("SIGNUP_SCREENSHOTS", "/tmp/followthrough-signup-screens"))


@pytest.fixture(scope="module")
def server() -> Iterator[SignupServer]:
    running = start_server(0, environ={"POWERTOOLS_LOG_LEVEL": "WARNING"})
    yield running
    running.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
                                  has_touch=True, java_script_enabled=False)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _confirmation_link(server: SignupServer, address: str) -> str:
    for sent in reversed(server.aws.sent_emails()):
        message = email.message_from_string(sent["raw_data"], policy=email.policy.default)
        if message["To"] == address:
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            found = re.search(r"(http://\S+/confirm\?token=\S+)", part.get_content())  # type: ignore[attr-defined]
            assert found
            return found.group(1)
    raise AssertionError(f"no email to {address} in moto's outbox")


def _subscriber(server: SignupServer, address: str) -> Any:
    sid = server.services.repositories.signups.owner("EMAIL", address)
    return server.services.repositories.subscribers.get_subscriber(sid) if sid else None


def test_sign_up_in_a_browser_confirm_then_unsubscribe_and_delete(server: SignupServer, page: Any) -> None:
    address = "browser.person@example.com"
    page.goto(server.url + "/")
    assert page.title() == "Sign up · Followthrough"
    _shot(page, "1-form")

    # bad input: the page comes back with an error next to each field, the typed address kept
    page.get_by_label("Email address", exact=True).fill("not-an-address")
    page.get_by_role("button", name="Continue to X").click()
    assert page.title().startswith("Error: ")
    assert page.get_by_role("alert").is_visible()
    assert "Enter an email address like name@example.com." in page.locator("#email-error").inner_text()
    assert "Tick the box" in page.locator("#consent-error").inner_text()
    assert page.get_by_label("Email address", exact=True).input_value() == "not-an-address"
    assert "email-error" in (page.get_by_label("Email address", exact=True).get_attribute("aria-describedby") or "")
    _shot(page, "2-errors")

    # good input: on to the stand-in's authorization page, then back
    page.get_by_label("Email address", exact=True).fill(address)
    page.get_by_label("Day").select_option(label="Wednesday")
    page.get_by_label("Time", exact=True).select_option(label="07:00")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label(re.compile("links my X account to this email address")).check()
    page.get_by_role("button", name="Continue to X").click()
    assert page.url.startswith(server.x_server.base_url + "/i/oauth2/authorize")
    page.get_by_role("button", name="Authorize app").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    assert address in page.content()
    _shot(page, "3-check-email")
    pending = _subscriber(server, address)
    assert pending is not None and pending.status == "pending" and not pending.email_confirmed
    assert (pending.digest_day, pending.digest_hour, pending.time_zone) == (2, 7, "Europe/Berlin")

    page.goto(_confirmation_link(server, address))
    page.get_by_role("heading", name="Your address is confirmed").wait_for()
    assert "Wednesdays at 07:00 (Europe/Berlin)" in page.content()
    _shot(page, "4-confirmed")
    active = _subscriber(server, address)
    assert active is not None and active.status == "active" and active.email_confirmed and active.receives_digest

    # the unsubscribe link of a digest
    page.goto(link(server.url, "unsubscribe", server.services.settings.signing_key, active.subscriber_id))
    page.get_by_role("heading", name="Unsubscribe?").wait_for()
    _shot(page, "5-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    gone = _subscriber(server, address)
    assert gone is not None and gone.status == "unsubscribed" and not gone.receives_digest

    # the delete link of a digest: its page sets the anti-forgery cookie its form needs
    page.goto(link(server.url, "delete", server.services.settings.signing_key, active.subscriber_id))
    page.get_by_role("heading", name="Delete everything?").wait_for()
    _shot(page, "6-delete")
    page.get_by_role("button", name="Delete everything").click()
    page.get_by_role("heading", name="Everything is deleted").wait_for()
    subscribers = server.services.repositories.subscribers
    assert _subscriber(server, address) is None and subscribers.get_subscriber(active.subscriber_id) is None


def test_the_form_fits_a_phone_and_a_desktop(server: SignupServer, browser: Any) -> None:
    for name, width in (("phone", 360), ("desktop", 1280)):
        context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=True)
        page = context.new_page()
        page.goto(server.url + "/")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        box = page.get_by_role("button", name="Continue to X").bounding_box()
        assert box is not None and box["height"] >= 44  # a comfortable touch target
        _shot(page, f"0-form-{name}")
        context.close()
