"""Pages for people who are away: the page's activity signal, the email-alert setting, and the
one-click unsubscribe link from alert emails (RFC 8058)."""

from flask import Blueprint, g, redirect, render_template, request, url_for

from ..identity import load_from_cookie, login_required
from ..services import activity, alerts

bp = Blueprint("alerts", __name__)


@bp.before_request
def identify():
    # The unsubscribe link works signed out, and shows the same page to everyone.
    if request.endpoint != "alerts.unsubscribe":
        load_from_cookie()


@bp.post("/activity")
@login_required
def activity_signal():
    """The page had focus or input (static/elako.js): its user is here, not an idle tab."""
    activity.record(g.user.id)
    return "", 204


@bp.post("/settings/email-alerts")
@login_required
def email_alerts():
    """The settings page's checkbox (sent only when ticked), without JavaScript too."""
    alerts.set_email_alerts(g.user, request.form.get("email_alerts") == "on")
    return redirect(url_for("pages.settings", alerts="saved"), code=303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token):
    """GET asks (link scanners fetch links); POST turns alerts off — the button, or the mail
    provider's one-click `List-Unsubscribe=One-Click` POST."""
    user = alerts.unsubscribe_user(token)
    if request.method == "POST":
        alerts.set_email_alerts(user, False)
    return render_template("unsubscribe.html", token=token, done=request.method == "POST")
