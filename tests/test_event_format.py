"""The exact bytes of the SSE wire format (flask-sse's `Message`, as we write it)."""

from elako.blueprints.events import Comment, Message


def test_json_event_is_one_compact_data_line_with_its_id():
    message = Message({"body": "Salamat po!", "seq": 2}, type="message", id="1764050823204-0")
    assert str(message) == ('event:message\n'
                            'data:{"body":"Salamat po!","seq":2}\n'
                            'id:1764050823204-0\n\n')


def test_html_fragment_splits_into_data_lines_only_at_sse_line_breaks():
    fragment = "<li>one</li>\n<li>two\u2028still two\x0cand two</li>\r\n<li>three</li>"
    assert str(Message(fragment, type="message", id="1-0")) == (
        "event:message\n"
        "data:<li>one</li>\n"
        "data:<li>two\u2028still two\x0cand two</li>\n"
        "data:<li>three</li>\n"
        "id:1-0\n\n")


def test_text_outside_ascii_is_sent_as_utf8_text_not_escapes():
    assert str(Message({"body": "Ñ 🙏"}, type="typing")) == 'event:typing\ndata:{"body":"Ñ 🙏"}\n\n'


def test_heartbeat_is_a_comment():
    assert str(Comment()) == ": keepalive\n\n"
