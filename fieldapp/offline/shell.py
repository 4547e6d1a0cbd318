"""The installable app shell: what the service worker precaches, its source, and its version.

The version is a hash of every file the worker caches and of every part of the worker itself, so any
change to the shell makes browsers install a new worker (and drop the old caches on activate).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rjsmin

OFFLINE_DIR = Path(__file__).parent
STATIC_DIR = OFFLINE_DIR.parent / "static"
# Scripts of the offline contract, one job each, loaded by every page in this order (each uses the ones before
# it; client.js wires them at start). They are served joined, as /offline/pages.js: one request and one gzip
# stream (ten small files compress about 5 KB worse than one).
PAGE_BUNDLE = "pages.js"
CLIENT_SCRIPTS = ("outbox.js", "sync-client.js", "retry.js", "sync-state.js", "page.js", "status-strip.js",
                  "toast.js", "pending.js", "sync-schedule.js", "settle.js", "capture.js", "presence.js", "feedback.js",
                  "app-update.js", "device-copies.js", "device-wipe.js", "device-page.js", "basemap.js", "client.js")
# Parts of the worker shared with the pages come first; other areas add fieldapp/offline/sw_*.js.
WORKER_SHARED = ("outbox.js", "retry.js", "sync-client.js", "device-wipe.js")
WORKER_MAIN = "sw.js"
MANIFEST = "manifest.json"  # served as /manifest.webmanifest
SKIPPED_STATIC = {"MANIFEST.json"}  # vendoring notes, not needed by the browser


def static_files() -> list[tuple[str, Path]]:
    """(url, path) of every file under fieldapp/static, sorted."""
    return [("/static/" + path.relative_to(STATIC_DIR).as_posix(), path)
            for path in sorted(STATIC_DIR.rglob("*"))
            if path.is_file() and path.name not in SKIPPED_STATIC and not path.name.startswith(".")]


def shell_files() -> list[tuple[str, Path]]:
    """Every file the worker's precache is made of: static files, the page scripts (cached as one bundle,
    PAGE_BUNDLE) and the manifest."""
    return [*static_files(),
            *(("/offline/" + PAGE_BUNDLE, OFFLINE_DIR / name) for name in CLIENT_SCRIPTS),
            ("/manifest.webmanifest", OFFLINE_DIR / MANIFEST)]


def shell_urls() -> list[str]:
    """What the worker precaches, each address once."""
    return list(dict.fromkeys(url for url, _path in shell_files()))


def worker_parts() -> list[Path]:
    """The worker's source files in the order they are joined: shared modules, the worker, then sw_*.js."""
    return [*(OFFLINE_DIR / name for name in WORKER_SHARED), OFFLINE_DIR / WORKER_MAIN,
            *sorted(OFFLINE_DIR.glob("sw_*.js"))]


def version() -> str:
    """A hash of every cached file (name and content) and every part of the worker."""
    digest = hashlib.sha256()
    for url, path in shell_files():
        digest.update(url.encode() + b"\0" + path.read_bytes() + b"\0")
    for path in worker_parts():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


_built: dict = {}


def _fingerprint() -> tuple:
    """Names, sizes and modification times of everything that goes into the worker (cheap to take)."""
    paths = [path for _url, path in shell_files()] + worker_parts()
    return tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in paths)


def worker_source() -> tuple[str, str]:
    """(version, JavaScript) of /sw.js: its configuration, then every part (rebuilt when a file changes)."""
    key = _fingerprint()
    if _built.get("key") == key:
        return _built["value"]
    _built["value"] = _worker_source()
    _built["key"] = key
    return _built["value"]


def _worker_source() -> tuple[str, str]:
    current = version()
    config = {"version": current, "shell": shell_urls()}
    parts = [f"/* fieldapp service worker {current} */\nself.FIELDAPP_SW = {json.dumps(config)};\n"]
    for path in worker_parts():
        parts.append(f"\n/* --- {path.name} --- */\n" + path.read_text(encoding="utf-8"))
    return current, "".join(parts)


def minified(name: str) -> str:
    """A page script without its comments and spare whitespace (rjsmin: nothing renamed or reordered). The
    sources explain themselves at length; phones need none of it: the bundle is 124 KB raw, 32 KB gzip as written
    and 78 KB, 20 KB gzip minified (bench/README.md, "Contact form")."""
    return rjsmin.jsmin((OFFLINE_DIR / name).read_text(encoding="utf-8"))


def client_script(name: str) -> bytes | None:
    """The page scripts minified and joined (PAGE_BUNDLE), or None for any other name."""
    if name != PAGE_BUNDLE:
        return None
    key = tuple((name, (OFFLINE_DIR / name).stat().st_mtime_ns) for name in CLIENT_SCRIPTS)
    if _bundle.get("key") != key:
        _bundle["value"] = "".join(f"/* {name} */\n{minified(name)}\n" for name in CLIENT_SCRIPTS).encode()
        _bundle["key"] = key
    return _bundle["value"]


_bundle: dict = {}


def manifest() -> bytes:
    return (OFFLINE_DIR / MANIFEST).read_bytes()


def offline_pages(deployment_ids: list[str]) -> list[str]:
    """The pages a device keeps for offline work: home, the pending list, and each deployment with its forms."""
    pages = ["/", "/pending", "/offline"]
    for deployment_id in deployment_ids:
        pages.append(f"/deployments/{deployment_id}")
        pages += [f"/deployments/{deployment_id}/{slug}/new" for slug in ("contacts", "tensions", "interventions")]
    return pages
