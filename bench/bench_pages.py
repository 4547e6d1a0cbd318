"""The pages a device keeps offline: server CPU per page, fieldapp's template `_()` against Jinja's stock one.

    .venv/bin/python bench/bench_pages.py [--rounds 100]

After a reconnect every officer's phone fetches the pages it keeps for offline work (home, pending list, each
deployment with its three forms; `/api/offline/bootstrap` names them). In a storm those renders are most of the
server's work. This measures the CPU (this process, all threads: Litestar's TestClient, in-process) of one
officer fetching all of them, on a fresh demo database in a temporary directory, alternating two set-ups in the
same run, round after round:
  - ours: the environment as fieldapp makes it (templating.make_environment: `_()` one call, translations kept);
  - stock: the same environment with Jinja's i18n extension's own newstyle gettext installed again.
Both give the same bytes (checked every round; tests/test_translations.py checks it message by message).
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from litestar.testing import TestClient  # noqa: E402

from fieldapp import demo, i18n  # noqa: E402
from fieldapp.app import create_app  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.settings import Settings  # noqa: E402

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
# Parts of a page that differ between two fetches whatever the templates do: a new record's id in the forms, the
# current minute in a time field.
VARYING = re.compile(rb'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT\d\d:\d\d')


def _fetch_all(client: TestClient, pages: list[str]) -> tuple[float, list[bytes]]:
    started = time.process_time()
    bodies = []
    for page in pages:
        response = client.get(page, headers={"accept-encoding": "identity"})
        assert response.status_code == 200, (page, response.status_code)
        bodies.append(response.content)
    return time.process_time() - started, bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the TestClient logs every request
    workdir = Path(tempfile.mkdtemp(prefix="fieldapp-pages-"))
    db = open_db(workdir / "pages.db")
    demo.load(db)
    db.conn.close()
    app = create_app(Settings(db_path=workdir / "pages.db"))
    env = app.template_engine.engine
    ours = {name: env.globals[name] for name in ("_", "gettext")}
    stock_env = type(env)(extensions=["jinja2.ext.i18n"])
    stock_env.install_gettext_translations(i18n.CurrentTranslations(), newstyle=True)
    stock = {name: stock_env.globals[name] for name in ("_", "gettext")}

    with TestClient(app=app, base_url="http://127.0.0.1") as client:
        token = CSRF_RE.search(client.get("/login").text).group(1)
        client.post("/login", data={"_csrf": token, "username": "officer1", "password": demo.DEMO_PASSWORD,
                                    "next": "/"})
        pages = client.get("/api/offline/bootstrap?records=false").json()["pages"]
        times: dict[str, list[float]] = {"ours": [], "stock": []}
        for setup in ("ours", "stock"):  # warm-up: templates compiled, caches filled
            env.globals.update(ours if setup == "ours" else stock)
            _fetch_all(client, pages)
        for _ in range(args.rounds):
            got = {}
            for setup in ("ours", "stock"):
                env.globals.update(ours if setup == "ours" else stock)
                seconds, bodies = _fetch_all(client, pages)
                times[setup].append(seconds)
                got[setup] = [VARYING.sub(b"-", body) for body in bodies]
            if got["ours"] != got["stock"]:  # a clock's minute turned between the two (times shown on pages)
                for setup in ("ours", "stock"):
                    env.globals.update(ours if setup == "ours" else stock)
                    got[setup] = [VARYING.sub(b"-", body) for body in _fetch_all(client, pages)[1]]
                assert got["ours"] == got["stock"], "the two set-ups rendered different pages"
        env.globals.update(ours)

    per_page = {setup: statistics.median(values) / len(pages) * 1000 for setup, values in times.items()}
    ratios = sorted(o / s for o, s in zip(times["ours"], times["stock"]))
    print(f"{len(pages)} kept pages of officer1 (demo data), {args.rounds} rounds, alternating")
    for setup, ms in per_page.items():
        print(f"  {setup:5}  CPU per page (median of rounds): {ms:6.2f} ms")
    print(f"  ours / stock: all rounds' CPU {sum(times['ours']) / sum(times['stock']):.3f}; per round median "
          f"{statistics.median(ratios):.3f}, quartiles {ratios[len(ratios) // 4]:.3f} to "
          f"{ratios[3 * len(ratios) // 4]:.3f}")


if __name__ == "__main__":
    main()
