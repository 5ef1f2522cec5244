"""`flask --app app seed-demo`, `check-indexes`, `rotate-message-keys`, and the data-rights
commands `export-user` and `delete-user`."""

import click
from mongoengine.errors import NotUniqueError

from . import crypto
from .passwords import hash_password
from .models import (
    Conversation, Message, QuickReply, User, WebhookDelivery, WebhookEndpoint, utcnow,
)
from .services import attachments

DEMO_PASSWORD = "elako-demo-2026"
DEMO_STORES = [
    ("Aling Nena's Sari-Sari", "nena@demo.elako.ph", "Snacks, drinks and load. Open 6am-10pm."),
    ("Kusina ni Mang Tonyo", "tonyo@demo.elako.ph", "Home-cooked ulam, pre-order by 10am."),
    ("Bayanihan Hardware", "hardware@demo.elako.ph", "Tools, paint and plumbing supplies."),
]
DEMO_CUSTOMERS = [
    ("Maria Santos", "maria@demo.elako.ph"),
    ("Juan Dela Cruz", "juan@demo.elako.ph"),
]


def seed_demo_accounts(timezone):
    """Create the demo stores and customers (idempotent); returns one line per account. Their
    addresses count as verified, so `make run` shows the alert emails (into the outbox)."""
    password_hash = hash_password(DEMO_PASSWORD)
    people = [("store", name, email, about) for name, email, about in DEMO_STORES]
    people += [("customer", name, email, "") for name, email in DEMO_CUSTOMERS]
    lines = []
    for role, name, email, about in people:
        try:
            User(role=role, name=name, email=email, password_hash=password_hash,
                 description=about, timezone=timezone,
                 email_verified_at=utcnow()).save(force_insert=True)
            state = "created"
        except NotUniqueError:
            state = "exists "
        lines.append(f"{state} {role:8} {email:28} {name}")
    lines.append(f"Every demo account's password is: {DEMO_PASSWORD}")
    return lines


def init_app(app):
    @app.cli.command("seed-demo")
    def seed_demo():
        """Create demo stores and customers with a known password (safe to run twice)."""
        for line in seed_demo_accounts(app.config["DEFAULT_TIMEZONE"]):
            click.echo(line)
        click.echo("Sign in as a customer in one browser window and as a store in another.")
        if not app.config.get("MONGODB_URI"):
            click.echo("\nNote: MONGODB_URI is unset, so these accounts went into this command's "
                       "own in-memory database and are gone now. `make run` seeds them into the "
                       "server's memory itself (SEED_DEMO=1); with MongoDB, run this command.")

    @app.cli.command("check-indexes")
    def check_indexes():
        """Explain every hot-path query on MongoDB (MONGODB_URI); fail on a collection scan."""
        if not app.config.get("MONGODB_URI"):
            raise click.ClickException(
                "check-indexes asks a real MongoDB for its query plans: set MONGODB_URI "
                "(mongomock has no indexes and cannot explain)")
        from . import indexes

        results = indexes.check()
        for name, stages, verdict in results:
            click.echo(f"{verdict:16} {name}: {' <- '.join(stages)}")
        scans = [name for name, _, verdict in results if verdict == "collection scan"]
        if scans:
            raise click.ClickException(f"{len(scans)} hot quer{'y scans' if len(scans) == 1 else 'ies scan'} "
                                       f"a whole collection: {', '.join(scans)}")
        click.echo(f"all {len(results)} hot-path queries use an index")

    @app.cli.command("export-user")
    @click.argument("email")
    @click.option("--out", type=click.Path(dir_okay=False, writable=True),
                  help="Where to write the zip (default: elako-export-<user id>.zip here).")
    def export_user(email, out):
        """Write the data of the account with EMAIL to a zip, as the user would download it."""
        from .services import data_rights

        user = _user_by_email(email)
        out = out or f"elako-export-{user.id}.zip"
        with open(out, "wb") as target:
            data_rights.write_archive(user, target)
        click.echo(f"wrote the data of {user.email} ({user.role} {user.id}) to {out}")

    @app.cli.command("delete-user")
    @click.argument("email")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def delete_user(email, yes):
        """Delete the account with EMAIL for good, as if its owner had (no password needed)."""
        from .services import data_rights

        user = _user_by_email(email)
        if not yes:
            click.confirm(f"Delete {user.role} {user.name!r} <{user.email}> and erase the text of "
                          "every message they sent? This cannot be undone", abort=True)
        data_rights.erase_account(user)
        click.echo(f"deleted {user.email} ({user.role} {user.id})")

    @app.cli.command("rotate-message-keys")
    def rotate_message_keys():
        """Rewrite stored message text as MESSAGE_ENCRYPTION_KEYS now says: encrypted with its
        first key, or plain when that is `plain`. Text no configured key reads is left as it is."""
        counts = {"messages": 0, "previews": 0, "webhook values": 0, "quick replies": 0,
                  "unreadable": 0}

        def rewrite(collection, match, field, value, kind):
            """Rewrite `field` of the document matching `match` if it still holds `value`: the
            app keeps running meanwhile, and an unsend or a newer preview must not be undone."""
            if not value:
                return
            try:
                rotated = crypto.rotate(value)
            except crypto.UnreadableMessage:
                counts["unreadable"] += 1
                return
            collection.objects(__raw__={**match, field: value}).update_one(
                __raw__={"$set": {field: rotated}})
            counts[kind] += 1

        for message in Message.objects.only("id", "body").as_pymongo():
            rewrite(Message, {"_id": message["_id"]}, "body", message.get("body"), "messages")
        for conversation in Conversation.objects(last_message__exists=True).only(
                "id", "last_message").as_pymongo():
            last = conversation["last_message"]
            rewrite(Conversation, {"_id": conversation["_id"],
                                   "last_message.message_id": last["message_id"]},
                    "last_message.body", last.get("body"), "previews")
            rewrite(Conversation, {"_id": conversation["_id"],
                                   "last_message.message_id": last["message_id"]},
                    "last_message.attachment_name", last.get("attachment_name"), "previews")
        # Webhook secrets sign every delivery, delivery bodies carry message text, and quick
        # replies are text a store sends.
        for model, field, kind in ((WebhookEndpoint, "secret", "webhook values"),
                                   (WebhookDelivery, "body", "webhook values"),
                                   (QuickReply, "text", "quick replies")):
            for document in model.objects.only("id", field).as_pymongo():
                rewrite(model, {"_id": document["_id"]}, field, document.get(field), kind)
        click.echo(f"rewrote {counts['messages']} message(s) and {counts['previews']} inbox preview(s)")
        files, unreadable_files = attachments.rotate_keys()
        counts["unreadable"] += unreadable_files
        if files:
            click.echo(f"rewrote {files} photo(s) and file(s) with their names")
        if counts["webhook values"]:
            click.echo(f"rewrote {counts['webhook values']} webhook secret(s) and delivery bodies")
        if counts["quick replies"]:
            click.echo(f"rewrote {counts['quick replies']} quick reply text(s)")
        if counts["unreadable"]:
            raise click.ClickException(
                f"{counts['unreadable']} could not be read with any configured key and were left "
                "as they were: add the key they were written with and run this again")


def _user_by_email(email):
    user = User.objects(email=email.strip().lower()).first()
    if user is None:
        raise click.ClickException(f"no account has the email {email}")
    return user
