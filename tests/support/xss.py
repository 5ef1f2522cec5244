"""The XSS corpus and the check that a rendered message is inert and shows exactly what was typed."""

from tests.support.html import ACTIVE_TAGS, active_content_problems, parse

LINK_REL = "noopener nofollow ugc"

# (message as typed, the links it must get). Every payload is shown as text, character for
# character; only http(s) URLs become links.
CORPUS = [
    ("<script>alert(1)</script>", []),
    ("<img src=x onerror=alert(1)>", []),
    ('"><svg onload=alert(1)>', []),
    ("'><svg/onload=alert(1)//", []),
    ("<svg><script>alert(1)</script></svg>", []),
    ('<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>', []),
    ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", []),
    ('<iframe srcdoc="<script>alert(1)</script>"></iframe>', []),
    ('<a href="javascript:alert(1)">click me</a>', []),
    ("javascript:alert(document.cookie)", []),
    ("JaVaScRiPt:alert(1)", []),
    ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", []),
    ("vbscript:msgbox(1)", []),
    ("javascript:alert(1)//https://example.com", ["https://example.com"]),
    ('https://example.com/"onmouseover="alert(1)', ["https://example.com/"]),
    ("https://example.com/'onfocus='alert(1)' autofocus='", ["https://example.com/"]),
    ("https://example.com/<script>alert(1)</script>", ["https://example.com/"]),
    ('<a href=https://evil.example>phish</a>', ["https://evil.example"]),
    ("http://x.example/a?b=1&c=<b>2</b>", ["http://x.example/a?b=1&c="]),
    ("{{7*7}} {{ config }} {% raw %}x{% endraw %} ${7*7} #{7*7} <%= 7*7 %>", []),
    ("{{''.__class__.__mro__[1].__subclasses__()}}", []),
    ('<div hx-get="/signout" hx-trigger="load" hx-swap-oob="true" id="main">x</div>', []),
    ('<div hx-on::load="alert(1)">x</div>', []),
    ('<p hx-swap-oob="innerHTML:#flash"><a href=//evil.example>log in again</a></p>', []),
    ("</p></li></ol></div><script>alert(1)</script><ol><li><p>", []),
    ("<style>*{display:none}</style>", []),
    ('<base href="https://evil.example/">', ["https://evil.example/"]),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">', ["https://evil.example"]),
    ('<form action="https://evil.example"><input name="csrf_token"></form>',
     ["https://evil.example"]),
    ("<!-- <![CDATA[ ]]> --> <!DOCTYPE html>", []),
    ("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#60;b&#62;", []),
    ("`\"'<>&\\", []),
    ("event: signed_out\ndata: gotcha\n\nid: 9999999999999-0\nretry: 1\n\n: x", []),
    ("line one\u2028line two\u2029line three", []),
    ("\u202egnp.exe \u200b zero width, emoji \U0001F600, Tagalog: Salamat po!", []),
    ("Visit https://shop.example/item?id=5&ref=chat. (or https://shop.example/page)",
     ["https://shop.example/item?id=5&ref=chat", "https://shop.example/page"]),
    ("HTTPS://EXAMPLE.COM/UPPER and http://localhost:8000/x", ["HTTPS://EXAMPLE.COM/UPPER",
                                                              "http://localhost:8000/x"]),
    ("ftp://files.example/x //evil.example/x www.example.com mailto:a@b.example", []),
]

# Names are shown on many surfaces too (inbox rows, thread headers, typing notes).
HOSTILE_STORE_NAME = "<img src=x onerror=alert('store')>{{7*7}}"
HOSTILE_CUSTOMER_NAME = '"><script>alert(\'customer\')</script>'

ALLOWED_IN_MESSAGE = {"li", "div", "span", "p", "a", "time", "em", "form", "input", "button"}


def message_problems(markup, message_id, typed, links, *, whole_document=True):
    """What is wrong with how message `message_id` (typed as `typed`) appears in `markup`."""
    root = parse(markup)
    problems = active_content_problems(root) if whole_document else []
    item = root.by_id(f"msg-{message_id}")
    if item is None:
        return problems + [f"message {message_id} is not in the markup"]
    bodies = item.with_class("body")
    if len(bodies) != 1:
        return problems + [f"{len(bodies)} message bodies"]
    body = bodies[0]
    if body.text != typed:
        problems.append(f"shown as {body.text!r}")
    for element in item.iter():
        if element.tag not in ALLOWED_IN_MESSAGE:
            problems.append(f"<{element.tag}> inside the message")
        if element.tag in ("form", "input", "button") and element.parent is not None:
            form = element if element.tag == "form" else next(
                (p for p in _ancestors(element) if p.tag == "form"), None)
            if form is None or form.attrs.get("action") != f"/m/{message_id}/delete":
                problems.append(f"<{element.tag}> that is not the unsend form")
    for child in body.children:
        if not isinstance(child, str) and child.tag != "a":
            problems.append(f"<{child.tag}> inside the message text")
    anchors = body.find_all("a")
    if [a.attrs.get("href") for a in anchors] != links:
        problems.append(f"links {[a.attrs.get('href') for a in anchors]}, expected {links}")
    for anchor in anchors:
        if set(anchor.attrs) != {"href", "rel", "target"}:
            problems.append(f"link attributes {sorted(anchor.attrs)}")
        if anchor.attrs.get("rel") != LINK_REL:
            problems.append(f"link rel={anchor.attrs.get('rel')!r}")
        if anchor.text != anchor.attrs.get("href"):
            problems.append("a link that does not show where it goes")
        if anchor.children and not all(isinstance(c, str) for c in anchor.children):
            problems.append("markup inside a link")
    return problems


def _ancestors(element):
    node = element.parent
    while node is not None:
        yield node
        node = node.parent


def inert_problems(markup, *, whole_document=True):
    """Active content anywhere in a fragment or page, including tags a message must never add."""
    root = parse(markup)
    problems = active_content_problems(root)
    if not whole_document:
        problems += [f"<{e.tag}>" for e in root.iter()
                     if e.tag in ACTIVE_TAGS and e.tag not in ("form", "input", "button", "details")]
    return problems
