"""A screenshot tour: every page each role can reach, on a 390 px phone and a 1366 px screen.

Fails on a page wider than the screen, text under 14 px (chart text included), a touch target under
44 px, a select that cuts off its chosen option, or an axe violation. The screenshots stay in $FIELDAPP_TOUR_DIR (default: <tmp>/fieldapp-tour)
so a person can look at them.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import axe_violations, cut_selects, log_in

WIDTHS = {"phone": (390, 844), "desktop": (1366, 900)}
SKIP = re.compile(r"^/(api|sw\.js|manifest|offline/|static/|schema)|\.(csv|geojson|ods)$|/deliveries$")
ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f-]{27}|/[0-9a-z]{20,}|/8[0-9a-f]{14}")
MAX_PAGES = 24

# Reads the page as a person would see it; returns what is wrong.
MEASURE = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) problems.push(`page is ${root.scrollWidth} px wide on a ${root.clientWidth} px screen`);
  const seen = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none" || s.clipPath === "inset(50%)") return false;
    return !el.closest("[hidden], .visually-hidden, .skip, [aria-hidden=true]");
  };
  const describe = (el) => (el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "")
                            + " '" + (el.textContent || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 30) + "'");
  const small = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || !seen(el) || el.closest("script, style, noscript, title, desc")) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.ownerSVGElement) {
      const m = el.getScreenCTM();
      if (m) size = size * Math.hypot(m.a, m.b);
    }
    if (size < 13.95) small.add(`${describe(el)} ${size.toFixed(1)} px`);
  }
  small.forEach((s) => problems.push("text under 14 px: " + s));
  const inSentence = (el) => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    const parent = el.parentElement;
    return [...parent.childNodes].some((n) => n !== el && n.nodeType === 3 && n.textContent.trim().length > 1);
  };
  document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]").forEach((el) => {
    if (!seen(el) || inSentence(el)) return;
    const label = el.closest("label");
    if ((el.type === "checkbox" || el.type === "radio") && label) {
      const r = label.getBoundingClientRect();
      if (r.height >= 43.5 && r.width >= 43.5) return;
    }
    const r = el.getBoundingClientRect();
    if (r.height < 43.5 || r.width < 43.5) problems.push(`target under 44 px: ${describe(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  });
  return problems;
}"""


def _pattern(path: str) -> str:
    return ID.sub("/{id}", path)


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if href.startswith(base) and not SKIP.search(parts.path) and not parts.fragment:
            found.append(parts.path + ("?" + parts.query if parts.query and parts.path.startswith("/reports") else ""))
    return found


class Requests:
    """The page's requests still in flight (its htmx parts, the map's data, fonts, images)."""

    def __init__(self, page):
        self.open: set = set()
        page.on("request", lambda request: self.open.add(request))
        page.on("requestfinished", lambda request: self.open.discard(request))
        page.on("requestfailed", lambda request: self.open.discard(request))

    def settle(self, page, quiet: float = 0.1, limit: float = 10.0) -> None:
        """Until no request has been in flight for `quiet` seconds (Playwright's "networkidle" waits 0.5 s, which
        was half the tour's time), then two frames so that what came last is laid out."""
        deadline, quiet_since = time.monotonic() + limit, None
        while time.monotonic() < deadline:
            if self.open:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                break
            page.wait_for_timeout(25)  # lets Playwright deliver the request events meanwhile
        if page.locator("#picture-map").count():
            page.wait_for_selector(".leaflet-overlay-pane path, .leaflet-container", state="attached")
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def _tour_dir() -> Path:
    path = Path(os.environ.get("FIELDAPP_TOUR_DIR") or Path(tempfile.gettempdir()) / "fieldapp-tour")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("role", [None, "officer1", "lead1", "staff1", "admin1"])
def test_every_page_fits_the_phone_reads_and_taps_well_and_passes_axe(browser, shared_server, role):
    base = shared_server.url
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB", service_workers="block")
    page = context.new_page()
    requests = Requests(page)
    if role:
        log_in(page, base, role)
        queue = ["/"]
    else:
        queue = ["/login"]
    # Every page the role can reach from its start page by links (one of each kind of address).
    pages, patterns = [], set()
    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        if _pattern(path.split("?")[0]) in patterns:
            continue
        response = page.goto(base + path)
        if not response or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        patterns.add(_pattern(path.split("?")[0]))
        pages.append(path)
        if role:
            queue += [link for link in _links(page, base) if _pattern(link.split("?")[0]) not in patterns]
    assert role is None or len(pages) >= 4, pages

    shots, problems = _tour_dir(), []
    for name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        for path in pages:
            requests.open.clear()  # what the previous page left in flight does not count
            page.goto(base + path)
            requests.settle(page)
            slug = re.sub(r"[^a-z0-9]+", "-", _pattern(path).lower()).strip("-") or "home"
            page.screenshot(path=str(shots / f"{role or 'anonymous'}-{name}-{slug}.png"), full_page=True)
            for problem in page.evaluate(MEASURE):
                problems.append(f"{name} {path}: {problem}")
            for select, text, needs, room in cut_selects(page):
                problems.append(f"{name} {path}: select {select} cuts '{text}' ({needs} px in {room} px)")
            for violation in (axe_violations(page) if name == "phone" else []):  # the rules do not depend on width
                targets = [node["target"] for node in violation["nodes"]][:3]
                problems.append(f"{name} {path}: axe {violation['id']} {targets}")
    context.close()
    assert problems == [], "\n".join(problems)
