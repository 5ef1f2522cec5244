"""The jobs. Each is small, named for what it does, and safe to run twice; the rules live in the
services they call. Retries: JOB_RETRY_SCHEDULE, except where a job says otherwise."""

from ..services import alerts, mail, password_reset, verification, webhooks
from . import job


@job
def send_email(raw):
    """Send one composed email (services.mail.send_later). Run twice, it is sent twice, with the
    same Message-ID, which mail clients show once."""
    mail.deliver(raw)


@job
def send_verification_email(user_id):
    """A new account's verification link (services.verification); run twice, two emails with
    links that both work, none once the address is verified."""
    verification.send_verification_email(user_id)


@job
def send_sign_up_notice(address):
    """Tell the owner of an address that someone tried to sign up with it; run twice, told twice."""
    verification.send_sign_up_notice(address)


@job
def send_password_reset(address):
    """A password reset link, if the address has an account (services.password_reset); run
    twice, two links, either of which works once."""
    password_reset.send_link(address)


@job
def follow_up_message(receiver_id, conversation_id, store_id, data):
    """A new message: schedule the receiver's unread check, and hand the event to the store's
    webhooks. Run twice, the check is scheduled once (unique per delay) and the event's id, taken
    from the message, makes no second delivery. An away message (`auto`) emails nobody: it is
    not the store writing."""
    if not data["message"].get("auto"):
        alerts.schedule_check(receiver_id, conversation_id)
    webhooks.fan_out(store_id, webhooks.event("message.created", data,
                                              f"evt_{data['message']['id']}_created"))


@job
def alert_unread(user_id, conversation_id):
    """Email a user who is away about unread messages (services.alerts has the rules)."""
    alerts.check_unread(user_id, conversation_id)


@job
def fan_out_webhook_event(store_id, happened):
    """One delivery per endpoint of the store that wants the event; run twice, no twin."""
    webhooks.fan_out(store_id, happened)


@job
def deliver_webhook(delivery_id):
    """One attempt; retried on WEBHOOK_RETRY_SCHEDULE by raising RetryLater. A finished
    delivery is skipped, so a re-run after a crash sends at most the one lost attempt again."""
    webhooks.deliver(delivery_id)
