"""A worker stores and publishes SEND_CONCURRENCY sends at a time, the rest waiting their turn in
order of arrival, so a crowd writing at once is served first come first served instead of all
finishing together at the end (bench/run.py's burst measures it). A send that cannot get a turn in
SEND_WAIT_SECONDS is told to come back, with its text kept."""

import gevent
import pytest

from elako.errors import Unavailable
from elako.models import Message
from elako.services import messages
from elako.services.gates import TurnGate


def _holding(gate, seconds):
    """A greenlet that holds a turn of `gate` for `seconds`, from now."""
    def hold():
        with gate.turn():
            gevent.sleep(seconds)

    holder = gevent.spawn(hold)
    gevent.sleep(0)  # it takes the turn now
    return holder


def _hold_every_turn(app, seconds):
    """The worker's only send turn, held for `seconds`."""
    with app.app_context():
        return _holding(messages.send_turns(), seconds)


def test_turns_go_in_order_of_arrival_and_never_more_at_once_than_allowed():
    gate = TurnGate(concurrency=2, wait_seconds=5)
    started, holding, most = [], [0], [0]

    def send(number):
        with gate.turn():
            started.append(number)
            holding[0] += 1
            most[0] = max(most[0], holding[0])
            gevent.sleep(0.01)  # a database round trip: the others get the CPU meanwhile
            holding[0] -= 1

    gevent.joinall([gevent.spawn(send, number) for number in range(8)], raise_error=True)
    assert started == list(range(8))
    assert most[0] == 2


def test_a_send_holding_a_turn_sends_its_away_reply_without_waiting_for_another():
    gate = TurnGate(concurrency=1, wait_seconds=0.05)
    with gate.turn():
        with gate.turn():  # what the nested send of an away message does
            pass
    with gate.turn():  # and the turn was given back once
        pass


def test_a_turn_not_free_in_time_is_a_503_with_retry_after():
    gate = TurnGate(concurrency=1, wait_seconds=0.05)
    holder = _holding(gate, 1)
    with pytest.raises(Unavailable) as refused:
        with gate.turn():
            pass
    holder.kill()
    assert refused.value.code == "busy" and refused.value.retry_after == 1




@pytest.mark.settings(SEND_CONCURRENCY=1, SEND_WAIT_SECONDS=0.2)
def test_an_api_send_that_gets_no_turn_is_told_to_retry_and_its_retry_is_stored_once(app, chat):
    customer, _, conversation_id = chat
    holder = _hold_every_turn(app, 1)
    url = f"/api/conversations/{conversation_id}/messages"
    body = {"body": "May size 8 pa po?", "client_id": "busy-1"}
    refused = customer.api.post(url, json=body)
    assert refused.status_code == 503
    assert refused.json["error"]["code"] == "busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert Message.objects(conversation_id=conversation_id).count() == 0
    holder.join()
    assert customer.api.post(url, json=body).status_code == 201
    assert customer.api.post(url, json=body).status_code == 200  # the same client_id: no second
    assert Message.objects(conversation_id=conversation_id).count() == 1


@pytest.mark.settings(SEND_CONCURRENCY=1, SEND_WAIT_SECONDS=0.2)
def test_a_page_send_that_gets_no_turn_comes_back_with_the_text_kept(app, chat):
    customer, _, conversation_id = chat
    holder = _hold_every_turn(app, 1)
    response = customer.page.post(f"/c/{conversation_id}/messages", {"body": "Bukas po kayo?"})
    holder.join()
    assert response.status_code == 303
    page = customer.page.get(f"/c/{conversation_id}").get_data(as_text=True)
    assert "This server is busy" in page
    assert "Bukas po kayo?" in page  # in the textarea, to send again
    assert Message.objects(conversation_id=conversation_id).count() == 0
