"""`fieldapp serve` whose sync batches stop inside their transaction, for the crash test.

    python -m tests.browser._stop_inside_batch serve --host 127.0.0.1 --port N

After a batch of at least 50 new records has written them (still inside the batch's transaction), it
creates the file named by FIELDAPP_TEST_BATCH_WRITTEN and waits, so that the test can kill the process at
exactly that point. Test code only: the app itself has no such hook.
"""

import os
import sys
import time
from pathlib import Path

from fieldapp import cli, records

_insert = records._insert


def _insert_then_wait(db, user, rows, now, action):
    stored = _insert(db, user, rows, now, action)
    if db.conn.in_transaction and len(rows) >= 50:
        Path(os.environ["FIELDAPP_TEST_BATCH_WRITTEN"]).touch()
        time.sleep(120)
    return stored


records._insert = _insert_then_wait
cli.main(sys.argv[1:])
