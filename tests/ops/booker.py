"""A child process that writes to the store in a loop, printing each write after its commit.

`python -m tests.ops.booker DATA_DIR CLINIC book` books cleanings through the real scheduler;
`... heartbeat` appends an audit row every 20 ms. With BOOKER_FSIZE set, the files it writes may not
grow past that many bytes (RLIMIT_FSIZE), which is how a full disk looks to SQLite without a mount.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from datetime import timedelta

from appliance.config import load_config
from appliance.errors import SchedulingError, StoreError
from appliance.scheduling import booking
from appliance.scheduling.availability import find_slots
from appliance.store import Store, audit
from appliance.store.db import utc_now
from tests.conftest import DEMO_NOW


def book_forever(store: Store, config) -> None:
    patients = [r[0] for r in store.conn.execute("SELECT patient_id FROM patients ORDER BY patient_id")]
    day, n = DEMO_NOW.date(), 0
    while day <= DEMO_NOW.date() + timedelta(days=config.calendar.max_days_ahead):
        for slot in find_slots(store, config, "cleaning", day, day, DEMO_NOW):
            try:
                appt = booking.book(store, config, slot, patients[n % len(patients)], DEMO_NOW, source="ai",
                                    actor="test:booker")
            except SchedulingError:
                continue
            n += 1
            print(f"booked {appt.appointment_id}", flush=True)
        day += timedelta(days=1)


STOP = []  # SIGTERM ends the loop between writes; SIGKILL (the power cut) does not wait


def heartbeat_forever(store: Store) -> None:
    while not STOP:
        with store.write():
            audit.record(store, "test:heartbeat", "heartbeat")
        print(f"wrote {utc_now()}", flush=True)
        time.sleep(0.02)


def main() -> int:
    data_dir, clinic, mode = sys.argv[1:4]
    if os.environ.get("BOOKER_FSIZE"):
        limit = int(os.environ["BOOKER_FSIZE"])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(True))
    store = Store.open(data_dir)
    try:
        book_forever(store, load_config(clinic)) if mode == "book" else heartbeat_forever(store)
    except StoreError as err:
        print(f"error {err.code}: {err.message}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
