"""Email: composed from a pair of templates (plain text and HTML), sent by a background job.

`send_later` is how every feature sends email: it renders now, in the caller's context, and the
`send_email` job delivers with retries. Email about an account's activity (unread alerts, webhook
warnings) goes through `send_to_user`, which sends only to an address its owner proved theirs
(`may_email`); only the emails that prove or recover an address (services/verification.py,
services/password_reset.py) go to any address. Delivery goes through SMTP_URL — `smtp://user:pass@host:587` (STARTTLS,
which credentials require) or `smtps://user:pass@host:465` (TLS from the start) — or, with it
unset, into an .eml file under DATA_DIR/outbox/, whose path is logged, so `make run` shows what
would have been sent.
"""

import email
import email.policy
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template, url_for

from .. import jobs

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 20  # well inside JOB_CLAIM_TIMEOUT_SECONDS: a slow server is not a dead worker
# Headers: lines up to RFC 5322's limit, so a long List-Unsubscribe URL stays one plain line
# (folded, it would be encoded, and mail providers would not find the link).
POLICY = email.policy.SMTP.clone(max_line_length=998)
# How long a `unique_key` keeps a second email with the same key from being sent.
UNIQUE_FOR_SECONDS = 30 * 24 * 3600


def absolute_url(endpoint, **values):
    """A link for an email: on PUBLIC_URL, whichever host (or job worker) renders it."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        return url_for(endpoint, _external=True, **values)


def compose(to, template, *, subject, headers=None, **context):
    """The email from templates/emails/<template>.txt and .html, rendered with `context`."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        text = render_template(f"emails/{template}.txt", **context)
        html = render_template(f"emails/{template}.html", **context)
    message = EmailMessage(policy=email.policy.SMTP)  # bodies in lines of 76, as MIME wants
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["PUBLIC_URL"]).hostname)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    message.policy = POLICY
    for name, value in (headers or {}).items():
        message[name] = value
    return message


def send_later(to, template, *, subject, headers=None, unique_key=None, **context):
    """Compose an email and hand it to the job queue. With `unique_key`, an email already sent
    (or queued) with the same key is not sent again. Returns whether it was queued."""
    message = compose(to, template, subject=subject, headers=headers, **context)
    return jobs.enqueue("send_email", message.as_string(), unique_key=unique_key and f"mail:{unique_key}",
                        unique_for=UNIQUE_FOR_SECONDS)


def may_email(user):
    """The rule for email about an account's activity: only to an address whose owner verified it,
    so nobody can sign a stranger's address up to receive it."""
    return user.email_verified_at is not None


def send_to_user(recipient, template, /, **options):
    """`send_later` to `recipient`'s address (a User) if `may_email` allows it; returns whether it
    was queued."""
    if not may_email(recipient):
        return False
    return send_later(recipient.email, template, **options)


def deliver(raw):
    """Send a composed email (as text) now: through SMTP_URL, or into the outbox."""
    message = email.message_from_string(raw, policy=POLICY)
    url = current_app.config.get("SMTP_URL")
    if not url:
        return _write_to_outbox(message)
    parts = urlsplit(url)
    tls = ssl.create_default_context()
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS,
                                context=tls)
    elif parts.scheme == "smtp":
        smtp = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=SMTP_TIMEOUT_SECONDS)
    else:
        raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme}://")
    with smtp:
        if parts.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=tls)
                smtp.ehlo()
            elif parts.username:
                raise RuntimeError(f"{parts.hostname} offers no STARTTLS: not sending the SMTP "
                                   "password in the clear (use smtps://)")
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)
    return None


def _write_to_outbox(message):
    outbox = Path(current_app.config["DATA_DIR"]) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    # Named after the Message-ID: a job that runs twice rewrites the same file.
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", message["Message-ID"].strip("<>"))
    path = outbox / f"{name}.eml"
    path.write_bytes(message.as_bytes())
    # Not the address: logs never carry one.
    log.warning("SMTP_URL is unset: wrote the email to %s (%s)", path, message["Subject"])
    return path
