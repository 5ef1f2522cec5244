"""Nobody locks anyone out: a stranger guessing an account's password slows only the stranger,
while the owner signs in from anywhere new, and from a device they used before even while the
account is guessed at from many networks. Integrations renew their access with refresh tokens."""

import pytest

from elako.services import sign_in_throttle
from tests.conftest import PASSWORD, PageClient

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.2"


def sign_in(api, email, password, ip, **extra):
    return api.post("/api/auth/token", json={"email": email, "password": password, **extra},
                    environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(sign_in_throttle.time, "time", lambda: now[0])
    return now


@pytest.mark.settings(SIGN_IN_FREE_FAILURES=5, SIGN_IN_MAX_DELAY_SECONDS=8)
def test_a_strangers_guesses_slow_only_the_stranger(api, people, clock):
    owner = people.store()
    answers = [sign_in(api, owner.email, f"guess {i}", ATTACKER).status_code for i in range(7)]
    assert answers == [401] * 6 + [429]  # the sixth failure started a wait
    assert sign_in(api, owner.email, PASSWORD, OWNER).status_code == 200


@pytest.mark.settings(SIGN_IN_FREE_FAILURES=2, SIGN_IN_MAX_DELAY_SECONDS=8)
def test_each_further_failure_doubles_the_wait_up_to_a_ceiling(api, people, clock):
    owner = people.store()
    waits = []
    for attempt in range(8):
        answer = sign_in(api, owner.email, f"guess {attempt}", ATTACKER)
        while answer.status_code == 429:
            waits.append(int(answer.headers["Retry-After"]))
            clock[0] += waits[-1]
            answer = sign_in(api, owner.email, f"guess {attempt}", ATTACKER)
        assert answer.status_code == 401
    assert waits == [1, 2, 4, 8, 8]


@pytest.mark.settings(SIGN_IN_FREE_FAILURES=2, SIGN_IN_MAX_DELAY_SECONDS=60)
def test_the_right_password_clears_the_count(api, people, clock):
    owner = people.customer()
    for guess in range(3):
        sign_in(api, owner.email, f"typo {guess}", OWNER)
    clock[0] += 1
    assert sign_in(api, owner.email, PASSWORD, OWNER).status_code == 200
    assert sign_in(api, owner.email, "one more typo", OWNER).status_code == 401
    assert sign_in(api, owner.email, PASSWORD, OWNER).status_code == 200


@pytest.mark.settings(SIGN_IN_FREE_FAILURES=3, SIGN_IN_MAX_DELAY_SECONDS=60)
def test_ipv6_clients_are_counted_by_their_64(api, people, clock):
    owner = people.customer()
    answers = [sign_in(api, owner.email, "guess", f"2001:db8:1:2::{i:x}").status_code
               for i in range(1, 6)]
    assert answers == [401] * 4 + [429]  # five addresses, one network
    assert sign_in(api, owner.email, PASSWORD, "2001:db8:1:3::1").status_code == 200


@pytest.mark.settings(RATE_LIMIT_SIGN_IN_EMAIL="10 per hour")
def test_guessing_from_many_networks_never_refuses_the_owners_device(api, app, people):
    owner = people.store()
    device = sign_in(api, owner.email, PASSWORD, OWNER).json["device_token"]
    browser = PageClient(app)  # a browser that signed in as the owner before
    browser.http.environ_base["REMOTE_ADDR"] = OWNER
    browser.sign_in(owner.email)
    for network in range(10):
        sign_in(api, owner.email, "guess", f"192.0.2.{network + 1}")
    # Past the ceiling: a device new to the account is refused, even with the right password...
    assert sign_in(api, owner.email, PASSWORD, "192.0.2.200").status_code == 429
    # ...the owner's integration and browser are not, even from the attacker's own address
    # (one carrier-grade NAT address is shared by thousands of phones).
    assert sign_in(api, owner.email, PASSWORD, ATTACKER, device_token=device).status_code == 200
    browser.http.environ_base["REMOTE_ADDR"] = ATTACKER
    assert browser.post("/signin", {"email": owner.email, "password": PASSWORD}).status_code == 303


def test_a_device_token_is_only_ours_and_only_for_its_accounts(api, people):
    owner, other = people.customer(), people.customer()
    device = sign_in(api, owner.email, PASSWORD, OWNER).json["device_token"]
    with api.http.application.app_context():
        assert sign_in_throttle.known_device(device, owner.email)
        assert sign_in_throttle.known_device(device, other.email) is None
        assert sign_in_throttle.known_device(device[:-2] + "xx", owner.email) is None
        both = sign_in_throttle.device_token(device, other.email)
        assert sign_in_throttle.known_device(both, owner.email) == \
            sign_in_throttle.known_device(both, other.email)


def test_token_answers_are_never_stored(api, people):
    person = people.customer()
    issued = sign_in(api, person.email, PASSWORD, OWNER)
    renewed = api.post("/api/auth/refresh", json={"refresh_token": issued.json["refresh_token"]})
    for answer in (issued, renewed):
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"


def test_a_refresh_token_works_once_and_a_copy_ends_the_session(api, people):
    person = people.customer()
    issued = sign_in(api, person.email, PASSWORD, OWNER).json
    renewed = api.post("/api/auth/refresh", json={"refresh_token": issued["refresh_token"]}).json
    assert renewed["refresh_token"] != issued["refresh_token"]
    bearer = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert api.get("/api/me", headers=bearer).status_code == 200
    # The retired token comes back (someone kept a copy): the session ends for everyone.
    reused = api.post("/api/auth/refresh", json={"refresh_token": issued["refresh_token"]})
    assert reused.status_code == 401 and reused.json["error"]["code"] == "refresh_token_reused"
    assert api.get("/api/me", headers=bearer).status_code == 401
    assert api.post("/api/auth/refresh", json={"refresh_token": renewed["refresh_token"]}
                    ).status_code == 401


@pytest.mark.parametrize("token", ["", "garbage", "0" * 24 + ".secret", "not-an-id.secret"])
def test_bad_refresh_tokens_are_refused_alike(api, people, token):
    person = people.customer()
    issued = sign_in(api, person.email, PASSWORD, OWNER).json
    session_id = issued["refresh_token"].split(".")[0]
    for attempt in (token, f"{session_id}.guessed-secret"):
        refused = api.post("/api/auth/refresh", json={"refresh_token": attempt})
        assert refused.status_code == 401
        assert refused.json["error"]["code"] == "invalid_refresh_token"
    # Guesses at the secret do not end the session they name.
    assert api.post("/api/auth/refresh", json={"refresh_token": issued["refresh_token"]}
                    ).status_code == 200


def test_a_revoked_session_cannot_be_refreshed(api, people):
    person = people.customer()
    issued = sign_in(api, person.email, PASSWORD, OWNER).json
    api.delete("/api/auth/token", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert api.post("/api/auth/refresh", json={"refresh_token": issued["refresh_token"]}
                    ).status_code == 401


@pytest.mark.settings(SIGN_IN_FREE_FAILURES=2, SIGN_IN_MAX_DELAY_SECONDS=900)
def test_a_browser_told_to_wait_keeps_the_form_the_email_and_the_wait(app, people, clock):
    """Issue 16: the refusal is the sign-in form again, not an error page with an inbox link."""
    owner = people.customer()
    browser = PageClient(app)
    for attempt in range(6):
        clock[0] += 120  # each wait over: only the count grows, the wait doubles
        answer = browser.post("/signin", {"email": owner.email, "password": f"guess {attempt}"})
        assert answer.status_code == 401
    answer = browser.post("/signin", {"email": owner.email, "password": "one more"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "8"
    assert "Too many sign-in attempts. You can try again in 8 seconds." in page
    assert f'name="email" value="{owner.email}"' in page and 'name="password"' in page
    assert "Go to your inbox" not in page
