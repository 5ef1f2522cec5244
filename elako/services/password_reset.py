"""Forgotten passwords: a link by email that sets a new one.

Asking answers the same whether or not the address has an account, and takes as long: the request
only counts itself (RATE_LIMIT_PASSWORD_RESET per network, RATE_LIMIT_ACCOUNT_EMAIL per address)
and queues the `send_password_reset` job, which looks the address up and sends the link if there
is an account.

A reset token is signed (SECRET_KEY, earlier keys accepted during a rotation), names the account and
a fingerprint of its password hash when the link was made, and works for
PASSWORD_RESET_MAX_AGE_SECONDS. Setting the password changes the hash, so the link cannot be used
twice, and any other link sent before dies with it (as does every link after a password change).
Two uses at once: the new hash is stored only if the old one is still there, so one of them wins.
Using the link ends every session and token of the account and proves the address (verified).
"""

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadSignature

from .. import jobs
from ..errors import ServiceError
from ..models import User
from ..schemas import parse
from ..schemas.requests import PasswordReset, PasswordResetRequest
from . import accounts, mail, ratelimit, verification

SALT = "elako-password-reset"


def _fingerprint(password_hash):
    """Stands for the password hash in the link (which must not carry the hash itself)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _invalid():
    return ServiceError("This password reset link has expired or was already used. Ask for a new "
                        "one.", code="invalid_reset_token")


def request_reset(data, *, client_ip):
    """Someone forgot the password of the address in `data`: queue the link, if it may be sent."""
    form = parse(PasswordResetRequest, data)
    ratelimit.hit("password_reset", ratelimit.client_network(client_ip))
    if verification.may_send_to(form.email):
        jobs.enqueue("send_password_reset", form.email)


def send_link(address):
    """The job: email a reset link to the account with this address; nothing if there is none."""
    user = User.objects(email=address).first()
    if user is None:
        return
    token = make_token(user)
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60
    mail.send_later(user.email, "password_reset", subject="Reset your ELako password", user=user,
                    reset_url=mail.absolute_url("auth.reset_password", token=token),
                    minutes=minutes, forgot_url=mail.absolute_url("auth.forgot_password"))


def make_token(user):
    """The token of a reset link for `user`, valid until its password changes or it expires."""
    return verification.signer(SALT).dumps([str(user.id), _fingerprint(user.password_hash)])


def user_for(token):
    """The account a reset link is for, while it is valid; a 400 `invalid_reset_token` if not."""
    try:
        user_id, fingerprint = verification.signer(SALT).loads(
            token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"])
        user = User.objects(id=user_id).first()
    except (BadSignature, ValueError, TypeError):
        raise _invalid() from None
    if user is None or not hmac.compare_digest(str(fingerprint), _fingerprint(user.password_hash)):
        raise _invalid()
    return user


def reset_password(data):
    """Set the new password of `data` (token, password); returns the user, now signed out
    everywhere, whose address is now verified."""
    token = data.token if isinstance(data, PasswordReset) else data.get("token")
    user = user_for(token)  # first: a dead link is the news, not a too-short password
    form = parse(PasswordReset, data)
    if accounts.set_password(user, form.password, replacing=user.password_hash) is None:
        raise _invalid()  # another use of the same link got there first
    verification.mark_verified(user)
    return user
