"""Playwright helpers for the browser tests: Debian's chromium, isolated contexts that fail the test
on any script error or CSP violation, signing in, and measurements done inside the page."""

import os
import re
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless and quiet: no sandbox (containers), no GPU, nothing that phones home at start-up.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Patience for conditions (a restart, a server shared with other tests on a 2-core machine);
# waits end as soon as the condition holds.
TIMEOUT_MS = 20_000
PASSWORD = "correct horse battery"
PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Console errors that are part of normal operation, not bugs: the browser logs failed requests (a
# stopped server, an answer with an error status). Nothing else: a stream event's fragments for
# views this page does not show are dropped by the page (static/elako.js), not logged by htmx.
EXPECTED_CONSOLE_ERRORS = [r"^Failed to load resource", r"net::ERR_"]


def launch(playwright):
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class Contexts:
    """Isolated browser contexts (separate cookies, storage and cache) for one test.

    Every page records uncaught exceptions and console errors (CSP violations among them);
    `close()` fails the test if any happened that `allow()` did not expect.
    """

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.problems = []
        self.allowed = [re.compile(p) for p in EXPECTED_CONSOLE_ERRORS]

    def allow(self, pattern):
        self.allowed.append(re.compile(pattern))

    def new(self, server, *, form_factor=DESKTOP, **options):
        context = self.browser.new_context(base_url=server.url, **{**form_factor, **options})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def page(self, server, user=None, path="/inbox", **options):
        """A new context's page, signed in as `user` (if given) and opened at `path`."""
        context = self.new(server, **options)
        if user is not None:
            sign_in(context, user, server)
        page = context.new_page()
        if path:
            page.goto(path)
        return page

    def _watch(self, page):
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))

    def _console(self, page, message):
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.problems.append(f"{page.url}: console error: {message.text}")

    def close(self):
        for context in self.contexts:
            context.close()
        assert not self.problems, "errors in the page:\n" + "\n".join(self.problems)


def sign_in(context, user, server=None):
    """Give `context` the session cookie of `user`, signed in through the real sign-in form."""
    session = user.browser(server)
    base = (server or user.server).url
    context.add_cookies([{"name": c.name, "value": c.value, "url": base} for c in session.cookies])


def sign_in_with_form(page, email, password=PASSWORD):
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def connected(page):
    """Wait until the page's event stream is open."""
    from playwright.sync_api import expect

    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


# -- measurements inside the page -------------------------------------------------------------------

# Elements that stick out of the viewport on the right (what makes a page scroll sideways).
OVERFLOWING_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || getComputedStyle(el).visibility === "hidden") continue;
    if (box.right > width + 0.5) out.push(`${el.tagName.toLowerCase()}.${el.className} right=${box.right}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out};
}"""

# Visible controls smaller than 44 x 44 CSS pixels. Links inside running text are exempt, as WCAG
# 2.5.5 allows; a radio button counts through the label around it.
SMALL_TARGETS_JS = """() => {
  const controls = "a[href], button, input:not([type=hidden]):not([type=radio]), select, textarea, summary, label.chip";
  const small = [];
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || style.visibility === "hidden" || box.right <= 0) continue;
    if (el.matches("a") && el.closest("p")) continue;
    if (box.width < 44 || box.height < 44) {
      small.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 30)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""

# WCAG contrast of an element's text against the colour actually behind it (the nearest ancestor
# with an opaque background), or null when the element shows no text.
CONTRAST_JS = """(el) => {
  const rgb = (value) => value.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  let node = el, background = null;
  while (node && node.nodeType === 1) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length < 4 || color[3] === 1) { background = color; break; }
    node = node.parentElement;
  }
  background = background || [255, 255, 255];
  const style = getComputedStyle(el);
  const [a, b] = [luminance(rgb(style.color)), luminance(background)].sort((x, y) => y - x);
  return {ratio: (a + 0.05) / (b + 0.05), color: style.color, background: background.join(","),
          size: parseFloat(style.fontSize), weight: Number(style.fontWeight)};
}"""


def wait_until(page, condition, timeout_ms=TIMEOUT_MS):
    """Let the page run until `condition()` (checked in this process) holds."""
    waited = 0
    while not condition():
        if waited >= timeout_ms:
            raise TimeoutError("condition never held")
        page.wait_for_timeout(20)  # runs Playwright's event loop, which delivers route callbacks
        waited += 20
