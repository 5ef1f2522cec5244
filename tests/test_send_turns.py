"""A worker stores and publishes SEND_CONCURRENCY sends at a time, the rest waiting their turn in
order of arrival, so a crowd writing at once is served first come first served instead of all
finishing together at the end (bench/run.py's burst measures it). A send that cannot get a turn in
SEND_WAIT_SECONDS is told to come back, with its text kept."""

import gevent
import pytest

from elako.errors import Unavailable
from elako.models import Conversation, Message, Order
from elako.services import messages
from elako.services.gates import TurnGate
from test_away_message import LUNCH, automatic, clock, shop  # noqa: F401  (fixtures)
from test_orders import catalogue, change, place, placed  # noqa: F401  (fixtures)
from tests.support.fresh_hub import in_a_thread_of_its_own


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


@in_a_thread_of_its_own
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


@in_a_thread_of_its_own
def test_a_turn_given_back_goes_to_the_longest_waiting_never_to_a_newcomer():
    gate = TurnGate(concurrency=1, wait_seconds=5)
    taken = []

    def first():
        with gate.turn():
            taken.append("first")
            gevent.sleep(0.01)
        with gate.turn():  # at once again: behind the one already waiting
            taken.append("first again")

    def second():
        with gate.turn():
            taken.append("second")

    gevent.joinall([gevent.spawn(first), gevent.spawn(second)], raise_error=True)
    assert taken == ["first", "second", "first again"]


@in_a_thread_of_its_own
def test_a_send_killed_while_waiting_leaves_the_line_and_takes_no_turn():
    gate = TurnGate(concurrency=1, wait_seconds=5)
    holder = _holding(gate, 0.05)
    waiter = gevent.spawn(lambda: gate.turn().__enter__())
    gevent.sleep(0)
    waiter.kill()
    holder.join()
    with gate.turn():  # the turn came back, and nobody stands in the line
        pass


def test_a_send_holding_a_turn_sends_its_away_reply_without_waiting_for_another():
    gate = TurnGate(concurrency=1, wait_seconds=0.05)
    with gate.turn():
        with gate.turn():  # what the nested send of an away message does
            pass
    with gate.turn():  # and the turn was given back once
        pass


@in_a_thread_of_its_own
def test_a_turn_not_free_in_time_is_a_503_with_retry_after():
    gate = TurnGate(concurrency=1, wait_seconds=0.05)
    holder = _holding(gate, 1)
    with pytest.raises(Unavailable) as refused:
        with gate.turn():
            pass
    holder.kill()
    assert refused.value.code == "busy" and refused.value.retry_after == 1


@pytest.mark.settings(SEND_CONCURRENCY=1, SEND_WAIT_SECONDS=0.2)
@in_a_thread_of_its_own
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
@in_a_thread_of_its_own
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


@pytest.mark.settings(SEND_CONCURRENCY=1)
def test_a_message_to_a_closed_store_gets_its_away_reply_with_a_single_turn(shop, clock):
    customer, store, cid = shop
    clock.now = LUNCH
    customer.send(cid, "May Milo pa po?")
    assert len(automatic(customer, cid)) == 1  # sent within the customer's own turn


@pytest.mark.settings(SEND_CONCURRENCY=1, SEND_WAIT_SECONDS=0.2)
@in_a_thread_of_its_own
def test_an_order_refused_as_busy_leaves_no_order_behind(app, chat, catalogue):
    customer, _, cid = chat
    holder = _hold_every_turn(app, 1)
    refused = place(customer, cid, [{"product_id": catalogue["Pandesal"], "quantity": 2}])
    holder.join()
    assert refused.status_code == 503 and refused.json["error"]["code"] == "busy"
    assert Order.objects(conversation_id=cid).count() == 0
    assert Conversation.objects.get(id=cid).open_orders == 0


@pytest.mark.settings(SEND_CONCURRENCY=1, SEND_WAIT_SECONDS=0.2)
@in_a_thread_of_its_own
def test_an_order_change_refused_as_busy_changes_nothing(app, chat, placed):
    _, store, cid = chat
    order_id = placed()
    holder = _hold_every_turn(app, 1)
    refused = change(store, order_id, "declined")
    holder.join()
    assert refused.status_code == 503 and refused.json["error"]["code"] == "busy"
    assert Order.objects.get(id=order_id).status == "pending"
    assert Conversation.objects.get(id=cid).open_orders == 1
    assert change(store, order_id, "declined").status_code == 200  # and it goes through later
    assert Conversation.objects.get(id=cid).open_orders == 0

