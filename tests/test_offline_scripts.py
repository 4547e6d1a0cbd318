"""The offline page scripts: every page loads them as one bundle (/offline/pages.js) holding each of them,
minified, in the order of shell.CLIENT_SCRIPTS, and the worker caches it; only the outbox touches IndexedDB; the shared
scripts have no DOM; one backoff rule (retry.js)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fieldapp.offline import shell

FIELDAPP = Path(shell.__file__).resolve().parent.parent
SCRIPT_TAG = re.compile(r'<script src="/offline/([^"]+)" defer></script>')


def _our_js() -> list[Path]:
    """Every JavaScript file of the app (vendored libraries are not ours)."""
    return [path for path in sorted(FIELDAPP.rglob("*.js")) if "vendor" not in path.parts]


def _code(path: Path) -> str:
    """The file without its comments, so that a comment may name what the code must not use."""
    source = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.sub(r"(^|[^:\"'])//.*$", r"\1", source, flags=re.MULTILINE)


@pytest.mark.parametrize("path", ["/login", "/"])
def test_every_page_loads_the_offline_scripts_as_one_bundle(login, path):
    page = login("officer1").get(path).text
    assert SCRIPT_TAG.findall(page) == [shell.PAGE_BUNDLE]


def test_the_bundle_holds_every_page_script_in_order_and_the_worker_caches_it(client):
    bundle = client.get(f"/offline/{shell.PAGE_BUNDLE}")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    positions = [bundle.content.index(shell.minified(name).encode()) for name in shell.CLIENT_SCRIPTS]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    worker = client.get("/sw.js").text
    assert f'"/offline/{shell.PAGE_BUNDLE}"' in worker
    assert worker.count(f'"/offline/{shell.PAGE_BUNDLE}"') == 1


def test_a_page_script_alone_or_another_file_is_not_served(client):
    for name in ("client.js", "sync.py", "sw.js"):
        assert client.get(f"/offline/{name}").status_code == 404


def test_every_script_in_fieldapp_offline_has_a_place():
    """A new file must be a page script (served, cached, versioned) or a part of the worker."""
    placed = set(shell.CLIENT_SCRIPTS) | set(shell.WORKER_SHARED) | {shell.WORKER_MAIN}
    for path in shell.OFFLINE_DIR.glob("*.js"):
        assert path.name in placed or path.name.startswith("sw_"), f"{path.name} is in no list of shell.py"


def test_only_the_outbox_touches_indexeddb():
    touching = [path.name for path in _our_js() if re.search(r"indexedDB|\bIDB[A-Z]", _code(path))]
    assert touching == ["outbox.js"]


@pytest.mark.parametrize("name", shell.WORKER_SHARED)
def test_scripts_shared_with_the_worker_have_no_dom(name):
    code = _code(shell.OFFLINE_DIR / name)
    assert not re.search(r"\b(document|window)\b", code), f"{name} uses the DOM; the service worker has none"


def test_one_backoff_rule():
    doubling = [path.name for path in _our_js() if re.search(r"Math\.pow\(\s*2\b|\b2\s*\*\*", _code(path))]
    assert doubling == ["retry.js"], "back off with FieldappRetry.delay (fieldapp/offline/retry.js)"
