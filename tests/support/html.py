"""A small HTML tree for assertions, built with the standard library's parser (what a browser's
tokenizer would see: tags, attributes and text), plus the checks the security tests share."""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# Attributes whose value a browser may load or navigate to.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster",
                  "background", "srcdoc", "ping", "sse-connect", "hx-get", "hx-post"}
# Elements that run or embed active content; none may come from a message.
ACTIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "svg", "math", "style",
               "base", "link", "meta", "img", "video", "audio", "form", "input", "button",
               "textarea", "select", "template", "noscript", "details"}


@dataclass
class Element:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)  # Elements and strings
    parent: "Element | None" = None

    @property
    def text(self):
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag=None, **attrs):
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def by_id(self, element_id):
        found = [e for e in self.iter() if e.attrs.get("id") == element_id]
        return found[0] if found else None

    def has_class(self, name):
        return name in (self.attrs.get("class") or "").split()

    def with_class(self, name):
        return [e for e in self.iter() if e.has_class(name)]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs}, parent=self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(
            Element(tag, {name: value or "" for name, value in attrs}, parent=self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def without_csrf_tokens(markup):
    """A page with its CSRF tokens (one per browser session) blanked, to compare two pages."""
    return re.sub(r'("X-CSRFToken": "|name="csrf_token" value=")[^"]*', r"\1…", markup)


def parse(markup):
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def _scheme(value):
    """The URL scheme as a browser would read it: control characters and spaces dropped."""
    cleaned = "".join(ch for ch in value if ord(ch) > 32).lower()
    return cleaned.split(":", 1)[0] if ":" in cleaned.split("/", 1)[0] else ""


def active_content_problems(root):
    """Everything in a document that could run script or load something the page did not write
    itself: inline scripts and handlers, script-ish URLs, inline styles. Empty when inert."""
    problems = []
    for element in root.iter():
        for name, value in element.attrs.items():
            if name.startswith("on"):
                problems.append(f"<{element.tag} {name}=...> event handler")
            if name == "style":
                problems.append(f"<{element.tag} style=...> inline style")
            if name in URL_ATTRIBUTES and _scheme(value) not in ("", "http", "https"):
                problems.append(f"<{element.tag} {name}={value!r}> non-http URL")
            if name.startswith("hx-on") or name == "hx-vals" and "js:" in value:
                problems.append(f"<{element.tag} {name}=...> htmx script")
        if element.tag == "script" and (not element.attrs.get("src", "").startswith("/static/")
                                        or element.text.strip()):
            problems.append("inline or foreign <script>")
        if element.tag in ("style", "iframe", "object", "embed", "svg", "math", "base"):
            problems.append(f"<{element.tag}> element")
    return problems
