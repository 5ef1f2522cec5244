"""The keys that sign cookies and API tokens: generated private when unset, one for each, and
rotated without signing anyone out."""

import os
import stat

import jwt
import pytest

from config import load_or_create_secret
from tests.conftest import PageClient
from tests.support.credentials import claims_of, session_cookie, session_data

OLD_KEY = "the-key-before-rotation-" + "o" * 30
OLD_JWT_KEY = "the-jwt-key-before-rotation-" + "p" * 30


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_generated_key_is_private_from_the_start(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    key = load_or_create_secret(data_dir, "secret_key")
    assert mode(data_dir) == 0o700 and mode(data_dir / "secret_key") == 0o600
    assert len(key) >= 48 and load_or_create_secret(data_dir, "secret_key") == key
    assert load_or_create_secret(data_dir, "jwt_secret_key") != key
    assert sorted(p.name for p in data_dir.iterdir()) == ["jwt_secret_key", "secret_key"]


@pytest.mark.settings(SECRET_KEY=None, JWT_SECRET_KEY=None)
def test_cookies_and_api_tokens_get_keys_of_their_own(app, people):
    assert app.config["SECRET_KEY"] != app.config["JWT_SECRET_KEY"]
    person = people.customer()
    jwt.decode(person.token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(person.token, app.config["SECRET_KEY"], algorithms=["HS256"])


@pytest.mark.settings(SECRET_KEY_FALLBACKS=[OLD_KEY], JWT_SECRET_KEY_FALLBACKS=[OLD_JWT_KEY])
def test_credentials_signed_with_the_previous_key_still_work(app, people):
    person = people.customer()
    sid = session_data(app.config["SECRET_KEY"], person.page.http.get_cookie("elako_session").value)
    for key, works in ((OLD_KEY, True), ("never-our-key-" + "n" * 30, False)):
        browser = PageClient(app)
        browser.http.set_cookie("elako_session", session_cookie(key, sid).split("=", 1)[1])
        assert (browser.get("/inbox").status_code == 200) is works
    for key, status in ((OLD_JWT_KEY, 200), ("never-our-key-" + "n" * 30, 401)):
        token = jwt.encode(claims_of(person.token), key, algorithm="HS256")
        assert person.api.get("/api/me", headers={"Authorization": f"Bearer {token}"}
                              ).status_code == status
