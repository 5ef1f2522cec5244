"""ELako Chat: real-time messaging between customers and small stores."""

from pathlib import Path

from flask import Flask

from config import Config, load_or_create_secret

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class=Config):
    """Build the app: configuration, connections, then blueprints. Nothing runs at import time."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=None)
    app.config.from_object(config_class)
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        if not app.config.get(name):
            app.config[name] = load_or_create_secret(app.config["DATA_DIR"], name.lower())
            if app.config.get("MONGODB_URI"):
                app.logger.warning(
                    "%s is unset: using the key generated in %s. Every host must use the same "
                    "key, or users are signed out whenever another host answers them.",
                    name, app.config["DATA_DIR"])

    from . import (
        assets, cli, crypto, errors, extensions, formatting, jobs, logs, realtime, security,
        transfers,
    )
    from .blueprints import alerts, api, auth, events, health, pages, webhooks
    from .models import (
        AuthSession, Conversation, Message, Order, Product, QuickReply, User, WebhookDelivery,
        WebhookEndpoint,
    )
    from .services import activity, ratelimit

    extensions.init_app(app)
    logs.init_app(app)  # first, so a request's clock starts before any other hook runs
    for model in (User, AuthSession, Conversation, Message, WebhookEndpoint, WebhookDelivery,
                  Product, Order, QuickReply):
        model.ensure_indexes()
    crypto.configure(app.config["MESSAGE_ENCRYPTION_KEYS"])
    realtime.init_app(app)
    jobs.init_app(app)
    activity.init_app(app)
    ratelimit.init_app(app)
    errors.init_app(app)
    transfers.init_app(app)
    security.init_app(app)
    formatting.init_app(app)
    assets.load(app, ROOT / "static")
    cli.init_app(app)
    if app.config["SEED_DEMO"] and app.config.get("MONGODB_URI"):
        app.logger.warning("SEED_DEMO is ignored because MONGODB_URI is set: no demo accounts "
                           "with the published password. `flask --app app seed-demo` creates them.")
    elif app.config["SEED_DEMO"]:
        for line in cli.seed_demo_accounts(app.config["DEFAULT_TIMEZONE"]):
            app.logger.warning("demo account: %s", line)

    app.register_blueprint(assets.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(events.sse)
    app.register_blueprint(health.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(webhooks.bp)
    extensions.csrf.exempt(api.bp)  # bearer tokens only, no cookies: nothing to forge
    extensions.csrf.exempt(webhooks.bp)
    # One-click unsubscribe is POSTed by mail providers; the signed link is its credential.
    extensions.csrf.exempt(alerts.unsubscribe)
    return app
