"""The subscriber lifecycle: sign up through X, confirm the address, unsubscribe, delete.

Who is who: X's OAuth proves the X account, the confirmation link proves the
address. A sign-up never lets anyone redirect someone else's digest: while a
subscriber receives digests, a sign-up that changes their address or X account
waits in a ``PENDING`` item until the new pairing is confirmed by email; an
address that never confirmed carries no weight and is taken over by the next
sign-up that uses it. Nothing here logs a token, a code, a verifier, a state
or an address.

No page says whether an address is subscribed: every sign-in that needs an
email answers with the same page, and what differs (the address belongs to
another subscription, the change replaces an X account) is said in the email,
which only the address's owner reads. Confirmation emails are limited per X
account, per mailbox (``mailbox``) and per client, besides the per-mailbox
cooldown.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from hmac import compare_digest
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import BaseModel

from followthrough.adapters.store import (
    CollectorStateRepository,
    ConcurrentUpdate,
    SignupRepository,
    SubscriberRepository,
    SuppressionRepository,
    TokenRepository,
    UniqueKind,
    WeekRepository,
)
from followthrough.adapters.x import TokenSet, XAuthRevoked, XOAuth
from followthrough.email import build_message
from followthrough.follow_events import FollowEvent
from followthrough.links import (
    MAX_AGE_S,
    InvalidLink,
    Purpose,
    SignedLink,
    confirmation_digest,
    link,
    read_link,
)
from followthrough.pipeline.postcap import describe_day
from followthrough.signup import pages
from followthrough.signup.csrf import fingerprint
from followthrough.signup.errors import SignupError
from followthrough.signup.forms import CONSENT_TEXT, CONSENT_VERSION, SignupForm
from followthrough.subscriber import DigestSection, OptInRead, OptionalRead, Subscriber
from followthrough.xmodels import XUser

log = logging.getLogger(__name__)

STATE_TTL_S = 600  # from the form to X's callback
NEW_SIGNUP_TTL_S = 86400  # a sign-up that never came back from X disappears after a day
CONFIRM_TTL_S = MAX_AGE_S["confirm"]
UNCONFIRMED_TTL_S = CONFIRM_TTL_S + 86400  # a day after its confirmation link expired
# At most this many sign-up emails (confirmations and "already in use" notices) per window, whatever the cooldown:
# (what is limited, emails, window in seconds)
EMAIL_LIMITS: tuple[tuple[str, int, int], ...] = (("XUSER", 5, 86400), ("MAILBOX", 5, 86400), ("CLIENT", 20, 3600))
# Providers known to ignore dots in the local part (all of them ignore nothing after a "+" for our purposes)
DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def _invalid_link(exc: InvalidLink) -> SignupError:
    expired = "expired" in str(exc)
    return SignupError(
        400,
        "This link has expired" if expired else "This link is not valid",
        ("The link is too old to use. " if expired else "The link is incomplete or was changed. ")
        + "Use the newest link from our emails, or sign up again on the first page.",
    )


class Mailer(Protocol):
    sender: str

    def send(self, recipient: str, raw_message: bytes) -> str: ...


class Me(Protocol):
    def me(self) -> Any: ...


class Tokens(Protocol):
    """What the sign-up needs of ``pipeline.tokens.TokenKeeper``."""

    cipher: Any

    def save(
        self, subscriber_id: str, tokens: TokenSet, *, expected_version: int | None, forget_at: int | None = None
    ) -> int: ...


class PendingSignup(BaseModel):
    """What the OAuth state item holds between the form and X's callback."""

    subscriber_id: str
    form: SignupForm
    code_verifier: str
    browser: str  # csrf.fingerprint of the browser's nonce
    expires_at: datetime


class ProfileChange(BaseModel):
    """A sign-up's outcome for one subscriber: applied at once, or after the address is confirmed."""

    email: str
    x_user_id: str
    username: str
    digest_day: int
    digest_hour: int
    time_zone: str
    consent_version: str
    consent_at: datetime

    @classmethod
    def of(cls, form: SignupForm, me: XUser) -> ProfileChange:
        return cls(
            email=form.email,
            x_user_id=me.id,
            username=me.username,
            digest_day=form.digest_day,
            digest_hour=form.digest_hour,
            time_zone=form.time_zone,
            consent_version=form.consent_version,
            consent_at=form.consent_at,
        )


# "cooldown": a link about the same went out minutes ago; "cooldown_other": one about something else did;
# "in_use": the address belongs to another subscription, and its owner was told; "limited": too many emails
Mailed = Literal["sent", "cooldown", "cooldown_other", "suppressed", "not_needed", "in_use", "limited"]


@dataclass
class Completed:
    """How a sign-in ended: ``ready`` (nothing to confirm), ``check_email`` or ``confirm_change``."""

    outcome: Literal["ready", "check_email", "confirm_change"]
    subscriber: Subscriber
    mailed: Mailed
    email: str


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link will do when its page's button is pressed (the page itself changes nothing)."""

    subscriber: Subscriber
    email: str
    username: str  # the X account the digest will be about
    replaces: str | None  # the X account it replaces, whose history is deleted; None if the account stays


def mailbox(address: str) -> str:
    """The mailbox an address delivers to, for limits: lower case, without a "+tag", without dots where the
    provider ignores them. Only for counting: the address itself is kept as typed."""
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def pause_weeks_left(subscriber: Subscriber, now: datetime) -> int:
    """Whole weeks (rounded up) until the pause ends; 0 if not paused."""
    if not subscriber.paused_at(now) or subscriber.paused_until is None:
        return 0
    return min(8, -(-(subscriber.paused_until - now) // timedelta(weeks=1)))


def digest_html(raw_message: bytes) -> str:
    """The HTML part of a stored digest, with ``cid:`` images turned into ``data:`` URLs for a browser."""
    message = email.message_from_bytes(raw_message, policy=email.policy.default)
    body = message.get_body(preferencelist=("html",))
    if not isinstance(body, EmailMessage):
        return ""
    html = str(body.get_content())
    for part in message.walk():
        cid = (part.get("Content-ID") or "").strip("<>")
        if cid and part.get_content_maintype() == "image":
            payload = part.get_payload(decode=True)
            data = base64.b64encode(payload if isinstance(payload, bytes) else b"").decode()
            html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return html


def _limit_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"followthrough-limit:{kind}:{value}".encode()).hexdigest()


def email_domain(address: str) -> str:
    """The only part of an address that goes into logs."""
    return address.rpartition("@")[2].lower()


def _state_key(state: str) -> str:
    return hashlib.sha256(("followthrough-oauth-state:" + state).encode()).hexdigest()


def _in_use() -> SignupError:
    return SignupError(
        409,
        "This X account or address is already in use",
        "Another subscription uses it. Delete that subscription first "
        "(the link is at the bottom of every digest), then sign up again.",
    )


def _same_address(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _replaced_account(target: Subscriber, change: ProfileChange) -> str | None:
    """The username of the X account ``change`` would replace (its history goes with it), or None."""
    if target.x_user_id and target.x_user_id != change.x_user_id and target.email_confirmed:
        return target.username or target.x_user_id
    return None


@dataclass
class SignupService:
    subscribers: SubscriberRepository
    signups: SignupRepository
    stored_tokens: TokenRepository
    suppression: SuppressionRepository
    weeks: WeekRepository  # the rendered digests (view in the browser), the weeks stored (delete everything)
    collected: CollectorStateRepository  # what was collected, for "download my data"
    oauth: XOAuth
    make_client: Callable[[str], Me]
    tokens: Tokens
    mailer: Mailer
    public_base_url: str
    signing_key: str
    now: Callable[[], datetime]
    confirmation_cooldown_s: int = 600
    # deletes the digests' idempotency records of these weeks (DigestStep.forget_sent_digests)
    forget_sent_digests: Callable[[str, list[str]], None] = lambda subscriber_id, weeks: None
    # when a first run could start if not now, given X's monthly Post-read cap (PostCap.first_run_from)
    first_run_from: Callable[[datetime], datetime | None] = lambda at: None
    # X Activity API follow events for a confirmed subscriber, and their end (pipeline.activity_api.Subscriptions;
    # not set: polled only)
    subscribe_events: Callable[[Subscriber], object] = lambda subscriber: None
    unsubscribe_events: Callable[[str], None] = lambda subscriber_id: None
    # the follow events X sent about the subscriber and kept for the collector (ActivityRepository.follow_events)
    follow_events: Callable[[str], list[FollowEvent]] = lambda subscriber_id: []

    # -- the form and X's callback ------------------------------------------------------------

    def start(self, form: SignupForm, browser_nonce: str) -> str:
        """Record the sign-up and return X's authorization URL to redirect the browser to."""
        now = self.now()
        epoch = int(now.timestamp())
        owner = self.signups.owner("EMAIL", form.email)
        created = False
        if owner is None:
            owner, created = self._new_pending(form, now)
        url, state, verifier = self.oauth.authorization_url()
        pending = PendingSignup(
            subscriber_id=owner,
            form=form,
            code_verifier=verifier,
            browser=fingerprint(browser_nonce),
            expires_at=now + timedelta(seconds=STATE_TTL_S),
        )
        self.signups.put_oauth_state(_state_key(state), pending.model_dump_json(), expires_at=epoch + STATE_TTL_S)
        log.info(
            "sign-up started",
            extra={"subscriber_id": owner, "new_subscriber": created, "email_domain": email_domain(form.email)},
        )
        return url

    def _new_pending(self, form: SignupForm, now: datetime) -> tuple[str, bool]:
        epoch = int(now.timestamp())
        subscriber = Subscriber(
            subscriber_id=uuid.uuid4().hex,
            email=form.email,
            status="pending",
            digest_day=form.digest_day,
            digest_hour=form.digest_hour,
            time_zone=form.time_zone,
            consent_version=form.consent_version,
            consent_at=form.consent_at,
            created_at=now,
        )
        expires = epoch + NEW_SIGNUP_TTL_S
        self.subscribers.put_new_subscriber(subscriber, expires_at=expires)
        owner = self.signups.claim("EMAIL", form.email, subscriber.subscriber_id, expires_at=expires)
        if owner != subscriber.subscriber_id:  # a concurrent sign-up with the same address won
            self.subscribers.delete_everything(subscriber.subscriber_id)
            return owner, False
        return owner, True

    def complete(
        self, *, state: str, code: str | None, error: str | None, browser_nonce: str | None, client: str | None = None
    ) -> Completed:
        """X redirected back: check the state, exchange the code, link the account.

        ``client``: who sent the request (the source IP), for the per-client email limit."""
        taken = self.signups.take_oauth_state(_state_key(state))
        now = self.now()
        if taken is None:
            raise SignupError(
                400,
                "This sign-in cannot be used",
                "This sign-in link was already used, has expired, or did not come from X. "
                "Start again from the sign-up page.",
            )
        pending = PendingSignup.model_validate_json(taken[0])
        if pending.expires_at < now:
            raise SignupError(
                400,
                "This sign-in has expired",
                "More than ten minutes passed since you filled in the form. Start again.",
            )
        if not browser_nonce or not compare_digest(pending.browser, fingerprint(browser_nonce)):
            raise SignupError(
                400,
                "This sign-in was started elsewhere",
                "It came back to a different browser than the one that filled in the form, or "
                "cookies are blocked. Start again from the sign-up page in this browser.",
            )
        if error:
            raise SignupError(
                400,
                "You did not connect your X account",
                "X reports that the connection was cancelled, so nothing was linked. You can start again at any time.",
            )
        if not code:
            raise SignupError(400, "X did not send a sign-in code", "Start again from the sign-up page.")
        tokens = self._exchange(code, state, pending.code_verifier)
        me = self._me(tokens)
        result = self._link(pending.subscriber_id, ProfileChange.of(pending.form, me), tokens, client=client)
        log.info(
            "sign-in completed",
            extra={
                "subscriber_id": result.subscriber.subscriber_id,
                "outcome": result.outcome,
                "mailed": result.mailed,
                "email_domain": email_domain(result.email),
            },
        )
        return result

    def _exchange(self, code: str, state: str, verifier: str) -> TokenSet:
        # oauthlib only reads the code and state from this URL, but refuses anything that is not https;
        # the redirect_uri the token request sends is the handler's own (the real callback URL)
        callback = urlsplit(self.oauth.redirect_uri)
        response = urlunsplit(("https", callback.netloc, callback.path, urlencode({"code": code, "state": state}), ""))
        try:
            return self.oauth.exchange_code(response, verifier, state)
        except XAuthRevoked:
            raise SignupError(
                400,
                "X did not accept this sign-in",
                "The sign-in code was refused (it is only valid for 30 seconds). Start again from the sign-up page.",
            ) from None

    def _me(self, tokens: TokenSet) -> XUser:
        try:
            user: XUser = self.make_client(tokens.access_token).me().data
        except Exception as exc:  # whatever X answered, the sign-in cannot go on; the message may quote input
            log.warning("users/me failed during sign-in", extra={"error": type(exc).__name__})
            raise SignupError(
                503,
                "X is not answering right now",
                "We could not read your X account. Please try again in a few minutes.",
            ) from None
        return user

    # -- linking -------------------------------------------------------------------------------

    def _link(
        self, email_owner_id: str, change: ProfileChange, tokens: TokenSet, *, client: str | None = None
    ) -> Completed:
        now = self.now()
        epoch = int(now.timestamp())
        by_account = self.signups.owner("XUSER", change.x_user_id)
        target = self.subscribers.get_subscriber(by_account) if by_account else None
        by_address = self.subscribers.get_subscriber(email_owner_id)
        if target is None:
            target = by_address
        elif by_address is not None and by_address.subscriber_id != target.subscriber_id:
            if by_address.email_confirmed:  # said to the address's owner only: the page is the same as ever
                return Completed("check_email", target, self._send_in_use(change, client=client), change.email)
            # an address nobody confirmed is no one's yet: the sign-up that proved its X account takes it
            self._forget(by_address)
        if target is None:  # the form's pending subscriber expired in the meantime
            target = Subscriber(subscriber_id=uuid.uuid4().hex, email=change.email, created_at=now)

        if (
            target.email_confirmed
            and _same_address(target.email, change.email)
            and target.x_user_id == change.x_user_id
        ):
            updated = self._apply(target, change, tokens, confirmed=True)
            self.subscribe_events(updated)  # a reconnect after a revocation subscribes again
            return Completed("ready", updated, "not_needed", change.email)
        replaces = _replaced_account(target, change)
        if target.receives_digest or replaces is not None:
            # the new details wait for the confirmation: until then nothing of the subscription changes
            ciphertext = self.tokens.cipher.encrypt(
                json.dumps(
                    {
                        "access": tokens.access_token,
                        "refresh": tokens.refresh_token,
                        "expires_at": tokens.expires_at,
                        "scope": tokens.scope,
                    }
                ),
                target.subscriber_id,
            )
            self.signups.put_pending_change(
                target.subscriber_id, change.model_dump_json(), ciphertext, expires_at=epoch + CONFIRM_TTL_S
            )
            mailed = self._send_confirmation(
                target.subscriber_id,
                change,
                replaces=replaces,
                client=client,
                first_run=replaces is not None or target.first_collected_at is None,
            )
            return Completed("confirm_change", target, mailed, change.email)
        updated = self._apply(target, change, tokens, confirmed=False)
        return Completed(
            "check_email",
            updated,
            self._send_confirmation(
                updated.subscriber_id, change, client=client, first_run=updated.first_collected_at is None
            ),
            change.email,
        )

    def _apply(self, target: Subscriber, change: ProfileChange, tokens: TokenSet, *, confirmed: bool) -> Subscriber:
        """Point ``target`` at the X account and address of ``change`` and store the new tokens."""
        sid = target.subscriber_id
        epoch = int(self.now().timestamp())
        # A sign-up nobody confirms leaves nothing behind (tokens included) once its link has expired;
        # a subscriber who was ever confirmed or collected keeps their record until they delete it.
        brand_new = not confirmed and not target.email_confirmed and target.first_collected_at is None
        forget_at = epoch + UNCONFIRMED_TTL_S if brand_new else None
        keys: list[tuple[UniqueKind, str]] = [("XUSER", change.x_user_id), ("EMAIL", change.email)]
        for n, (kind, value) in enumerate(keys):
            if self.signups.claim(kind, value, sid, expires_at=forget_at) != sid:
                for done_kind, done_value in keys[:n]:
                    if (done_kind, done_value) not in {("XUSER", target.x_user_id), ("EMAIL", target.email)}:
                        self.signups.release(done_kind, done_value, sid)
                raise _in_use()
        account_changed = target.x_user_id is not None and target.x_user_id != change.x_user_id
        if account_changed and target.x_user_id:
            self.signups.release("XUSER", target.x_user_id, sid)
            self._revoke_x_tokens(sid)  # the replaced account's grant ends at X too
            self.unsubscribe_events(sid)  # and its event subscriptions (their record goes with the history)
            self.subscribers.forget_history(sid)  # what was collected belongs to the other account
        if not _same_address(target.email, change.email):
            self.signups.release("EMAIL", target.email, sid)
        self._save_tokens(sid, tokens, forget_at=forget_at)
        fields: dict[str, Any] = {
            **change.model_dump(),
            "email_confirmed": confirmed,
            "status": "active" if confirmed else "pending",
            "reconnect_email_sent_at": None,
        }
        if account_changed:
            fields["first_collected_at"] = None
        updated = target.model_copy(update=fields)
        self.subscribers.put_subscriber(updated, reference=self.now(), forget_at=forget_at)
        return updated

    def _save_tokens(self, subscriber_id: str, tokens: TokenSet, *, forget_at: int | None) -> None:
        for _ in range(3):
            stored = self.stored_tokens.get_tokens(subscriber_id)
            try:
                self.tokens.save(
                    subscriber_id, tokens, expected_version=stored.version if stored else None, forget_at=forget_at
                )
            except ConcurrentUpdate:
                continue  # the collector refreshed at that moment: replace its result too
            return
        raise ConcurrentUpdate(f"tokens of {subscriber_id} kept changing")

    def _keep(self, subscriber: Subscriber) -> None:
        """Confirmed: what ``_apply`` gave an expiry (claims, tokens) stays; the profile's own
        ``put_subscriber`` comes next and drops its expiry."""
        keys: list[tuple[UniqueKind, str | None]] = [("XUSER", subscriber.x_user_id), ("EMAIL", subscriber.email)]
        for kind, value in keys:
            if value and self.signups.claim(kind, value, subscriber.subscriber_id) != subscriber.subscriber_id:
                raise _in_use()
        self.stored_tokens.keep_tokens(subscriber.subscriber_id)

    def _forget(self, subscriber: Subscriber) -> None:
        if subscriber.x_user_id:
            self.signups.release("XUSER", subscriber.x_user_id, subscriber.subscriber_id)
        self.signups.release("EMAIL", subscriber.email, subscriber.subscriber_id)
        deleted = self.subscribers.delete_everything(subscriber.subscriber_id)
        log.info("subscriber deleted", extra={"subscriber_id": subscriber.subscriber_id, "items": deleted})

    def _send_confirmation(
        self,
        subscriber_id: str,
        change: ProfileChange,
        *,
        replaces: str | None = None,
        client: str | None = None,
        first_run: bool = True,
    ) -> Mailed:
        confirms = confirmation_digest(change.email, change.x_user_id)
        confirm = link(self.public_base_url, "confirm", self.signing_key, subscriber_id, confirms=confirms)
        text, html = pages.confirmation_email(
            username=change.username,
            confirm_url=confirm,
            replaces=replaces,
            public_base_url=self.public_base_url,
            first_digest_from=self.first_digest_waits(first_run=first_run),
        )
        subject = (
            f"Confirm: your weekly Followthrough digest moves from @{replaces} to @{change.username}"
            if replaces
            else f"Confirm your weekly Followthrough digest for @{change.username}"
        )
        return self._send_signup_email(
            change, about=f"{subscriber_id} {confirms}", subject=subject, text=text, html=html, client=client
        )

    def first_digest_waits(self, *, first_run: bool) -> str | None:
        """The day a first digest waits for ("Tuesday 01 December 2026"), when X's monthly Post-read cap has
        no room for its first run now."""
        waits = self.first_run_from(self.now()) if first_run else None
        return describe_day(waits) if waits else None

    def _send_in_use(self, change: ProfileChange, *, client: str | None) -> Mailed:
        """The address is another subscription's: tell its owner (not the page) that someone tried."""
        text, html = pages.in_use_email(username=change.username, public_base_url=self.public_base_url)
        mailed = self._send_signup_email(
            change,
            about=f"in-use {change.x_user_id}",
            client=client,
            text=text,
            html=html,
            subject="Someone tried to sign this address up for Followthrough",
        )
        return "in_use" if mailed == "sent" else mailed

    def _send_signup_email(
        self, change: ProfileChange, *, about: str, subject: str, text: str, html: str, client: str | None
    ) -> Mailed:
        """Send one sign-up email, unless the address bounced, its cooldown runs, or a limit is reached.

        A send that fails releases the cooldown (a retry can send) and refuses the sign-in with a 503."""
        if self.suppression.is_suppressed(change.email):
            return "suppressed"
        box = mailbox(change.email)
        earlier = self.signups.take_confirmation_slot(box, cooldown_s=self.confirmation_cooldown_s, confirms=about)
        if earlier is not None:
            return "cooldown" if earlier == about else "cooldown_other"
        limited = {"XUSER": change.x_user_id, "MAILBOX": box, "CLIENT": client}
        for kind, most, window_s in EMAIL_LIMITS:
            value = limited[kind]
            if value and not self.signups.count_signup_email(_limit_key(kind, value), window_s=window_s, limit=most):
                log.warning("sign-up email limit reached", extra={"limit": kind, "email_domain": email_domain(box)})
                self.signups.forget_confirmation_slot(box)  # nothing went out: no cooldown says otherwise
                return "limited"
        raw = build_message(
            sender=self.mailer.sender, recipient=change.email, now=self.now(), text=text, html=html, subject=subject
        )
        try:
            self.mailer.send(change.email, raw)
        except Exception as exc:  # SES refused or is down: nothing was sent, so a retry must be able to send
            self.signups.forget_confirmation_slot(box)
            log.warning(
                "sign-up email not sent", extra={"error": type(exc).__name__, "email_domain": email_domain(box)}
            )
            raise SignupError(
                503,
                "We could not send the email",
                "Nothing was sent to this address. Please sign up again in a few minutes.",
            ) from None
        return "sent"

    # -- links from emails ---------------------------------------------------------------------

    def _read(self, purpose: Purpose, token: str) -> SignedLink:
        try:
            return read_link(self.signing_key, purpose, token)
        except InvalidLink as exc:
            raise _invalid_link(exc) from None

    def subscriber_for(self, purpose: Purpose, token: str) -> Subscriber | None:
        """The subscriber a valid link token names (None if they are gone); ``SignupError`` if invalid."""
        return self.subscribers.get_subscriber(self._read(purpose, token).subscriber_id)

    def _confirmed_by(self, token: str) -> tuple[Subscriber, tuple[ProfileChange, bytes] | None]:
        """The subscriber a confirmation link is about, and the change waiting for it (None: it confirms the
        subscriber as they are); ``SignupError`` if the link is gone or from an earlier email."""
        sent = self._read("confirm", token)
        subscriber = self.subscribers.get_subscriber(sent.subscriber_id)
        if subscriber is None:
            raise SignupError(
                404,
                "This sign-up no longer exists",
                "It was deleted, or never finished. You can sign up again on the first page.",
            )
        waiting = self.signups.get_pending_change(subscriber.subscriber_id)
        if waiting is not None:
            change = ProfileChange.model_validate_json(waiting[0])
            if sent.confirms == confirmation_digest(change.email, change.x_user_id):
                return subscriber, (change, waiting[1])
        if sent.confirms != confirmation_digest(subscriber.email, subscriber.x_user_id):
            # an older email's link: it must never confirm an address or account it was not sent about
            raise SignupError(
                410,
                "This link is from an earlier email",
                "The sign-up changed after this email was sent. Use the link in the newest "
                "confirmation email, or sign up again on the first page.",
            )
        return subscriber, None

    def confirmation(self, token: str) -> Confirmation:
        """What pressing the confirmation page's button will do; changes nothing (mail scanners GET links)."""
        subscriber, waiting = self._confirmed_by(token)
        if waiting is None:
            return Confirmation(subscriber, subscriber.email, subscriber.username or "", None)
        change = waiting[0]
        return Confirmation(subscriber, change.email, change.username, _replaced_account(subscriber, change))

    def confirm(self, token: str) -> Subscriber:
        """The address is confirmed: apply what waited for it and start the digests. Idempotent."""
        subscriber, waiting = self._confirmed_by(token)
        sid = subscriber.subscriber_id
        if waiting is not None:
            change, ciphertext = waiting
            stored = json.loads(self.tokens.cipher.decrypt(ciphertext, sid))
            tokens = TokenSet(stored["access"], stored["refresh"], float(stored["expires_at"]), stored["scope"])
            subscriber = self._apply(subscriber, change, tokens, confirmed=True)
            self.signups.delete_pending_change(sid)
        elif not subscriber.email_confirmed or subscriber.status == "pending":
            subscriber = subscriber.model_copy(
                update={
                    "email_confirmed": True,
                    "status": "active" if subscriber.status == "pending" else subscriber.status,
                }
            )
            self._keep(subscriber)
            self.subscribers.put_subscriber(subscriber, reference=self.now())
        self.subscribe_events(subscriber)
        log.info("address confirmed", extra={"subscriber_id": sid, "status": subscriber.status})
        return subscriber

    def change_settings(
        self,
        token: str,
        *,
        digest_day: int,
        digest_hour: int,
        time_zone: str,
        pause_weeks: int,
        hidden_sections: list[DigestSection] | None = None,
        skipped_reads: list[OptionalRead] | None = None,
        opted_in_reads: list[OptInRead] | None = None,
    ) -> Subscriber | None:
        """The settings page's form: when the digest comes, a pause of 1-8 weeks (0 resumes), the sections left
        out, the optional X reads turned off and the opt-in ones turned on. A settings link changes nothing
        else: it cannot unsubscribe, delete or touch the address or the X account."""
        subscriber = self.subscriber_for("settings", token)
        if subscriber is None or not subscriber.email_confirmed:  # digests (and their links) come after that
            return None
        now = self.now()
        if pause_weeks == 0:
            paused_until = None
        elif subscriber.paused_at(now) and pause_weeks == pause_weeks_left(subscriber, now):
            paused_until = subscriber.paused_until  # the page showed the pause as it is: keep it
        else:
            paused_until = now + timedelta(weeks=pause_weeks)
        updated = subscriber.model_copy(
            update={
                "digest_day": digest_day,
                "digest_hour": digest_hour,
                "time_zone": time_zone,
                "paused_until": paused_until,
                "hidden_sections": sorted(set(hidden_sections or [])),
                "skipped_reads": sorted(set(skipped_reads or [])),
                "opted_in_reads": sorted(set(opted_in_reads or [])),
            }
        )
        self.subscribers.put_subscriber(updated, reference=now)  # the due index follows the new day and hour
        log.info(
            "settings changed", extra={"subscriber_id": subscriber.subscriber_id, "paused": paused_until is not None}
        )
        return updated

    def view(self, token: str) -> str | None:
        """The HTML of the week's digest as it was sent (its inline images as data: URLs); None if not stored."""
        sent = self._read("view", token)
        raw = self.weeks.get_digest(sent.subscriber_id, sent.week or "")
        return digest_html(raw) if raw is not None else None

    def export(self, token: str) -> dict[str, Any] | None:
        """Everything stored about the subscriber, for the rights of access and portability (GDPR art. 15, 20);
        never the X tokens. None if nothing is stored."""
        subscriber = self.subscriber_for("export", token)
        if subscriber is None:
            return None
        log.info("data exported", extra={"subscriber_id": subscriber.subscriber_id})
        profile = subscriber.model_dump(mode="json")
        consent = {
            "version": profile.pop("consent_version"),
            "agreed_at": profile.pop("consent_at"),
            "text": CONSENT_TEXT if subscriber.consent_version == CONSENT_VERSION else None,
        }
        return {
            "exported_at": self.now().isoformat(),
            "profile": profile,
            "consent": consent,
            **self.collected.subscriber_records(subscriber.subscriber_id),
            "follow_events": [e.model_dump(mode="json") for e in self.follow_events(subscriber.subscriber_id)],
        }

    def unsubscribe(self, token: str) -> Subscriber | None:
        """No more digests. Idempotent; a subscriber who is gone is unsubscribed already."""
        subscriber = self.subscriber_for("unsubscribe", token)
        if subscriber is None:
            return None
        self.signups.delete_pending_change(subscriber.subscriber_id)
        self.unsubscribe_events(subscriber.subscriber_id)
        if subscriber.status != "unsubscribed":
            subscriber = subscriber.model_copy(update={"status": "unsubscribed"})
            self.subscribers.put_subscriber(subscriber, reference=self.now())
            log.info("unsubscribed", extra={"subscriber_id": subscriber.subscriber_id})
        return subscriber

    def delete(self, token: str) -> bool:
        """Delete everything stored about the subscriber; False if there was nothing left. Idempotent."""
        subscriber = self.subscriber_for("delete", token)
        if subscriber is None:
            return False
        self.signups.forget_confirmation_slot(mailbox(subscriber.email))
        self._revoke_x_tokens(subscriber.subscriber_id)
        self.unsubscribe_events(subscriber.subscriber_id)
        self.forget_sent_digests(subscriber.subscriber_id, self.weeks.weeks_of(subscriber.subscriber_id))
        self._forget(subscriber)
        return True

    def _revoke_x_tokens(self, subscriber_id: str) -> None:
        """Leaving means X forgets our access too; a failure there never blocks deleting our copy."""
        stored = self.stored_tokens.get_tokens(subscriber_id)
        if stored is None:
            return
        try:
            pair = json.loads(self.tokens.cipher.decrypt(stored.ciphertext, subscriber_id))
        except Exception:  # an undecryptable token is as good as gone
            log.warning("stored X tokens could not be decrypted for revocation", extra={"subscriber_id": subscriber_id})
            return
        revoked = [
            self.oauth.revoke(pair["refresh"], "refresh_token"),
            self.oauth.revoke(pair["access"], "access_token"),
        ]
        log.info(
            "X tokens revoked" if all(revoked) else "X did not confirm the revocation",
            extra={"subscriber_id": subscriber_id},
        )
