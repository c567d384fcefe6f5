"""The log of when each experiment/profile last verified (the dashboard's "Last verification").

Kept in the cache (never committed), read-modify-written under a file lock so that two builds
never lose each other's entries. Dates follow SOURCE_DATE_EPOCH when it is set.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import filelock

from repronotes import environ
from repronotes.atomic import write_json_atomic
from repronotes.cache import ensure_folder
from repronotes.model import Outcome, Status

FILE = "verifications.json"


def build_time() -> dt.datetime:
    epoch = environ.source_date_epoch()
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch is not None else dt.datetime.now(dt.UTC)


class Verifications:
    def __init__(self, cache_root: Path):
        self.path = cache_root / FILE
        self.cache_root = cache_root

    def load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def remember(self, outcomes: list[Outcome]) -> None:
        lock = filelock.FileLock(str(ensure_folder(self.cache_root, "locks") / f"{FILE}.lock"))
        with lock.acquire(timeout=60):
            seen = self.load()
            stamp = build_time().strftime("%Y-%m-%d %H:%M UTC")
            for o in outcomes:
                if o.status in (Status.REPRODUCED, Status.VERIFIED):
                    seen[f"{o.experiment}/{o.profile}"] = f"{stamp} ({o.action.value})"
            write_json_atomic(self.path, seen)
