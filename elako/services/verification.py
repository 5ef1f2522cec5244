"""Proving an email address: the verification email at sign-up, and what a sign-up with an address
that already has an account does instead.

A sign-up answers the same whether the address was free or not (services.accounts.register), so
the address itself is told: a new account gets a verification link, an existing one's owner gets
"someone tried to sign up with your address", with links to sign in and to reset the password.
Both are queued as jobs, so the request does the same work either way.

A verification link is signed (SECRET_KEY, rotation through SECRET_KEY_FALLBACKS) and names the
account and the address; it works for EMAIL_VERIFY_MAX_AGE_SECONDS, opened with GET (a page with
a button: mail scanners fetch links) and used with POST. Until then the address gets no email
about the account's activity (mail.may_email).

Every email a stranger can make us send to an address counts against RATE_LIMIT_ACCOUNT_EMAIL for
that address (`may_send_to`): past it nothing more is sent, and the answer does not change.
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import jobs, realtime
from ..errors import RateLimited, ServiceError
from ..models import User, utcnow
from . import mail, ratelimit

SALT = "elako-verify-email"


def signer(salt):
    """A serializer for link tokens: signed with SECRET_KEY, and earlier keys still accepted."""
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt=salt)


def may_send_to(address):
    """Count one account email to `address`; False once the address had its share."""
    try:
        ratelimit.hit("account_email", address.lower())
    except RateLimited:
        return False
    return True


def after_sign_up(user, *, created):
    """Queue what the address of a sign-up gets: a verification link for a new account `user`, or
    a notice to the owner of the account that already had it (`user` is then an unsaved stand-in)."""
    if not may_send_to(user.email):
        return
    if created:
        jobs.enqueue("send_verification_email", str(user.id))
    else:
        jobs.enqueue("send_sign_up_notice", user.email)


def resend(user):
    """Another verification email, asked for from the settings page or the API."""
    if user.email_verified_at is None and may_send_to(user.email):
        jobs.enqueue("send_verification_email", str(user.id))


def send_verification_email(user_id):
    """The job: the link, unless the address was verified meanwhile (or the account is gone)."""
    user = User.objects(id=user_id).first()
    if user is None or user.email_verified_at is not None:
        return
    mail.send_later(user.email, "verify_email", subject="Confirm your email address for ELako",
                    user=user, verify_url=mail.absolute_url("auth.verify_email",
                                                            token=make_token(user)),
                    days=current_app.config["EMAIL_VERIFY_MAX_AGE_SECONDS"] // 86400 or 1)


def make_token(user):
    """The token of a verification link for `user`'s current address."""
    return signer(SALT).dumps([str(user.id), user.email])


def send_sign_up_notice(address):
    """The job: tell the owner of `address` that someone tried to sign up with it."""
    user = User.objects(email=address).first()
    if user is None:
        return
    mail.send_later(user.email, "sign_up_attempt", subject="Someone tried to sign up with your email",
                    user=user, sign_in_url=mail.absolute_url("auth.sign_in"),
                    reset_url=mail.absolute_url("auth.forgot_password"))


def user_to_verify(token):
    """The account a verification link is for; a 400 for a forged, mangled or old link."""
    invalid = ServiceError("This verification link is not valid any more. Sign in and send "
                           "yourself a new one from Settings.", code="invalid_verification_token")
    try:
        user_id, address = signer(SALT).loads(
            token, max_age=current_app.config["EMAIL_VERIFY_MAX_AGE_SECONDS"])
        user = User.objects(id=user_id, email=address).first()
    except (BadSignature, ValueError, TypeError):
        raise invalid from None
    if user is None:
        raise invalid
    return user


def verify(token):
    """Mark the address of a verification link verified (again: no change); returns the user."""
    user = user_to_verify(token)
    mark_verified(user)
    return user


def mark_verified(user):
    """The owner of `user`'s address proved it theirs (a verification or password reset link)."""
    if user.email_verified_at is None:
        user.modify(query={"email_verified_at": None}, email_verified_at=utcnow())
        realtime.broadcast("user_changed", user.id)  # workers drop the user they cached
