"""Sessions a user can see and end: signing in ends the browser's previous session, changing the
password ends every other session and token, and the settings list signs out one device or all
the others. Pages and API alike."""

from elako.models import AuthSession
from tests.conftest import PASSWORD, PageClient
from tests.support.credentials import claims_of

ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
NEW_PASSWORD = "a whole new password"


def cookie_of(page):
    return page.http.get_cookie("elako_session").value


def with_cookie(app, value):
    """A browser holding a copy of someone's session cookie."""
    thief = PageClient(app)
    thief.http.set_cookie("elako_session", value)
    return thief


def test_signing_in_again_ends_the_browsers_previous_session(app, people):
    person = people.customer()
    page = person.page
    copied = cookie_of(page)
    page.sign_in(person.email)  # the same browser signs in again (or as someone else)
    assert cookie_of(page) != copied
    assert with_cookie(app, copied).get("/inbox").status_code == 302
    assert page.get("/inbox").status_code == 200


def test_signing_out_ends_the_copied_cookie_too(app, people):
    person = people.customer()
    copied = cookie_of(person.page)
    person.page.post("/signout")
    assert with_cookie(app, copied).get("/inbox").status_code == 302


def test_changing_the_password_ends_every_other_session_and_token(app, api, people):
    person = people.customer()
    elsewhere = PageClient(app)
    elsewhere.sign_in(person.email)
    integration = api.post("/api/auth/token",
                           json={"email": person.email, "password": PASSWORD}).json
    changed = person.page.post("/settings/password", {"current_password": PASSWORD,
                                                      "new_password": NEW_PASSWORD})
    assert changed.status_code == 303  # a reload must not post the passwords again
    shown = person.page.get(changed.headers["Location"]).get_data(as_text=True)
    assert "Signed out 3 other sessions." in shown  # + Person's token
    assert person.page.get("/inbox").status_code == 200
    assert elsewhere.get("/inbox").status_code == 302
    assert person.api.get("/api/me").status_code == 401
    assert api.post("/api/auth/refresh", json={"refresh_token": integration["refresh_token"]}
                    ).status_code == 401
    assert api.post("/api/auth/token", json={"email": person.email, "password": PASSWORD}
                    ).status_code == 401
    assert api.post("/api/auth/token", json={"email": person.email, "password": NEW_PASSWORD}
                    ).status_code == 200


def test_changing_the_password_asks_the_current_one(people):
    person = people.customer()
    wrong = person.page.post("/settings/password", {"current_password": "not it",
                                                    "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422
    assert "current password is not right" in wrong.get_data(as_text=True)
    short = person.api.post("/api/me/password", json={"current_password": PASSWORD,
                                                      "new_password": "short"})
    assert short.status_code == 422 and short.json["error"]["field"] == "new_password"
    assert person.api.get("/api/me").status_code == 200  # nothing was ended
    assert person.page.get("/inbox").status_code == 200


def test_the_api_changes_the_password_and_keeps_the_callers_token(people):
    person = people.customer()
    page = person.page
    assert person.api.post("/api/me/password", json={"current_password": PASSWORD,
                                                     "new_password": NEW_PASSWORD}
                           ).status_code == 204
    assert person.api.get("/api/me").status_code == 200
    assert page.get("/inbox").status_code == 302


def test_the_settings_page_lists_sessions_by_device(app, people):
    person = people.customer()
    phone = PageClient(app)
    phone.http.environ_base["HTTP_USER_AGENT"] = ANDROID_CHROME
    phone.sign_in(person.email)
    html = person.page.get("/settings").get_data(as_text=True)
    assert "Chrome on Android" in html and "This device" in html
    assert "(integration)" in html  # Person's API token
    listed = person.api.get("/api/me/sessions").json["items"]
    assert len(listed) == 3 and sum(s["current"] for s in listed) == 1
    assert {s["kind"] for s in listed} == {"web", "api"}


def test_signing_out_one_session_from_settings(app, people):
    person = people.customer()
    phone = PageClient(app)
    phone.sign_in(person.email)
    web = [s for s in person.api.get("/api/me/sessions").json["items"] if s["kind"] == "web"]
    phones = max(web, key=lambda s: s["created_at"])  # it signed in after the page's
    ended = person.page.post(f"/settings/sessions/{phones['id']}/end")
    assert ended.status_code == 303 and ended.headers["Location"].endswith("/settings#sessions")
    assert phone.get("/inbox").status_code == 302
    assert person.page.get("/inbox").status_code == 200


def test_sign_out_everywhere_else(app, people):
    person = people.customer()
    phone, laptop = PageClient(app), PageClient(app)
    phone.sign_in(person.email)
    laptop.sign_in(person.email)
    assert laptop.post("/settings/sessions/end-others").status_code == 303
    assert laptop.get("/inbox").status_code == 200
    assert phone.get("/inbox").status_code == 302
    assert person.api.get("/api/me").status_code == 401
    assert AuthSession.objects(user_id=person.id).count() == 1


def test_nobody_ends_someone_elses_session(people):
    person, nosy = people.customer(), people.customer()
    target = claims_of(person.token)["sid"]
    for session_id in (target, "0" * 24, "not-an-id"):
        refused = nosy.api.delete(f"/api/me/sessions/{session_id}")
        assert refused.status_code == 404 and refused.json["error"]["message"] == \
            "Session was not found."
        assert nosy.page.post(f"/settings/sessions/{session_id}/end").status_code == 404
    assert person.api.get("/api/me").status_code == 200


def test_the_api_ends_its_other_sessions(api, people):
    person = people.customer()
    person.page  # a browser session
    second = api.post("/api/auth/token", json={"email": person.email, "password": PASSWORD}).json
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert api.post("/api/me/sessions/end-others", headers=bearer).json == {"ended": 2}
    assert api.get("/api/me", headers=bearer).status_code == 200
    assert person.page.get("/inbox").status_code == 302
    own = claims_of(second["access_token"])["sid"]
    assert api.delete(f"/api/me/sessions/{own}", headers=bearer).status_code == 204
    assert api.get("/api/me", headers=bearer).status_code == 401
