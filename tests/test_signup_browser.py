"""The sign-up in a real browser (Debian's chromium, headless) against ``make serve``'s server:
the form, its errors, X's authorization page, the confirmation email and its page (a prefetch changes
nothing; an account switch says what it replaces), unsubscribe and delete."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from followthrough.links import link
from followthrough_devkit.serve import DIGEST_PATH, SignupServer, start_server

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("SIGNUP_SCREENSHOTS", "/tmp/followthrough-signup-screens"))


@pytest.fixture
def server() -> Iterator[SignupServer]:
    # one server per test: the sign-up email limits (per X account and mailbox, per day) would otherwise
    # carry from one test to the next, whatever order they run in; no cooldown: a test may sign up twice
    running = start_server(0, environ={"POWERTOOLS_LOG_LEVEL": "WARNING", "CONFIRMATION_COOLDOWN_S": "0"})
    yield running
    running.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _last_email(server: SignupServer, address: str) -> tuple[str, str]:
    """(subject, plain text) of the newest email to ``address``."""
    for sent in reversed(server.aws.sent_emails()):
        message = email.message_from_string(sent["raw_data"], policy=email.policy.default)
        if message["To"] == address:
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            return str(message["Subject"]), str(part.get_content())  # type: ignore[attr-defined]
    raise AssertionError(f"no email to {address} in moto's outbox")


def _confirmation_link(server: SignupServer, address: str) -> str:
    found = re.search(r"(http://\S+/confirm\?token=\S+)", _last_email(server, address)[1])
    assert found, "no confirmation link in the email"
    return found.group(1)


def _sign_up(server: SignupServer, page: Any, address: str, user_id: str | None = None) -> None:
    """Fill in the form and authorize on the X stand-in's page (as ``user_id``, else its first account)."""
    page.goto(server.url + "/")
    page.get_by_label("Email address", exact=True).fill(address)
    page.get_by_label(re.compile("links my X account to this email address")).check()
    page.get_by_role("button", name="Continue to X").click()
    if user_id:
        page.get_by_label("Account").select_option(user_id)
    page.get_by_role("button", name="Authorize app").click()
    page.get_by_role("heading", name="Check your email").wait_for()


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
    page.get_by_role("heading", name="Confirm your address?").wait_for()
    assert not _subscriber(server, address).email_confirmed  # opening the link changed nothing
    page.get_by_role("button", name="Confirm my address").click()
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


def test_a_mail_scanner_prefetching_the_confirmation_link_changes_nothing(
    server: SignupServer, page: Any, browser: Any
) -> None:
    address = "prefetched@example.com"
    _sign_up(server, page, address)
    confirm = _confirmation_link(server, address)
    scanner = browser.new_context(java_script_enabled=True)  # a scanner runs scripts, follows links, never clicks
    try:
        fetched = scanner.request.get(confirm)
        assert fetched.status == 200 and "Confirm your address?" in fetched.text()
        opened = scanner.new_page()
        opened.goto(confirm)
        opened.get_by_role("heading", name="Confirm your address?").wait_for()
    finally:
        scanner.close()
    pending = _subscriber(server, address)
    assert pending is not None and not pending.email_confirmed and not pending.receives_digest
    page.goto(confirm)
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_role("heading", name="Your address is confirmed").wait_for()
    assert _subscriber(server, address).receives_digest


def test_an_account_switch_says_what_it_replaces_in_its_email_and_page(server: SignupServer, page: Any) -> None:
    address = "switching@example.com"
    accounts = list(server.sim.accounts.values())[:2]
    first, second = (account.username for account in accounts)
    _sign_up(server, page, address, accounts[0].user_id)
    page.goto(_confirmation_link(server, address))
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_role("heading", name="Your address is confirmed").wait_for()
    before = _subscriber(server, address)
    assert before is not None and before.username == first and before.receives_digest

    _sign_up(server, page, address, accounts[1].user_id)
    subject, text = _last_email(server, address)
    assert subject == f"Confirm: your weekly Followthrough digest moves from @{first} to @{second}"
    assert f"This replaces @{first} and starts your history again" in text
    page.goto(_confirmation_link(server, address))
    page.get_by_role("heading", name=f"Replace @{first} with @{second}?").wait_for()
    assert f"This replaces @{first} and starts your history again" in page.locator("main").inner_text()
    _shot(page, "7-account-switch")
    assert _subscriber(server, address).username == first  # nothing changed yet
    page.get_by_role("button", name=f"Replace @{first}").click()
    page.get_by_role("heading", name="Your address is confirmed").wait_for()
    after = _subscriber(server, address)
    assert after is not None and after.username == second and after.subscriber_id == before.subscriber_id


def test_the_form_guesses_the_time_zone_with_javascript_and_works_without(server: SignupServer, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=True, timezone_id="Asia/Tokyo")
    try:
        guessing = context.new_page()
        refused: list[str] = []
        guessing.on(
            "console",
            lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
        )
        guessing.goto(server.url + "/")
        assert guessing.get_by_label("Time zone").input_value() == "Asia/Tokyo"
        assert refused == []  # the script is the one the page's policy allows
    finally:
        context.close()
    without = browser.new_context(java_script_enabled=False, timezone_id="Asia/Tokyo")
    try:
        plain = without.new_page()
        plain.goto(server.url + "/")
        assert plain.get_by_label("Time zone").input_value() == "UTC"  # the form's default, still a valid choice
    finally:
        without.close()


def test_a_digests_links_lead_to_settings_the_digest_in_the_browser_and_my_data(
    server: SignupServer, page: Any
) -> None:
    from followthrough.subscriber import iso_week

    address = "digest.reader@example.com"
    _sign_up(server, page, address)
    page.goto(_confirmation_link(server, address))
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_role("heading", name="Your address is confirmed").wait_for()
    week = iso_week(server.services.now())
    # make serve's local page sends this week's digest through the real sender
    page.goto(f"{server.url}{DIGEST_PATH}?{urlencode({'email': address})}")
    assert f"Digest for {week}: sent" in page.content()
    _, text = _last_email(server, address)
    links = {
        purpose: next(u for u in text.split() if f"/{purpose}?token=" in u)
        for purpose in ("settings", "view", "export")
    }

    page.goto(links["settings"])
    page.get_by_role("heading", name="Your digest settings").wait_for()
    page.get_by_label("Day").select_option(label="Friday")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_label("Pause").select_option(label="Pause for 2 weeks")
    _shot(page, "8-settings")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("status").wait_for()
    assert "Paused until" in page.content()
    changed = _subscriber(server, address)
    assert (changed.digest_day, changed.time_zone) == (4, "America/Chicago") and changed.paused_until is not None
    assert changed.receives_digest  # a settings link never unsubscribes
    page.get_by_label("Pause").select_option(label="Resume now")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("status").wait_for()
    assert _subscriber(server, address).paused_until is None

    page.goto(links["view"])
    assert page.url == links["view"] and "cid:" not in page.content()
    assert page.get_by_role("link", name="Delete everything Followthrough stores about you").count() == 1
    _shot(page, "9-view-in-browser")

    page.goto(links["export"])
    page.get_by_role("heading", name="Download your data").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    saved = download.value
    assert saved.suggested_filename == "followthrough-my-data.json"
    data = json.loads(Path(saved.path()).read_text())
    assert data["profile"]["email"] == address and week in data["weeks"]
    assert "access" not in json.dumps(data["profile"]) and "ciphertext" not in json.dumps(data)
