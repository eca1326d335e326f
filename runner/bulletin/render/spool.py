"""Rows spooled to disk once, so several renderers can re-read them without holding them."""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

BATCH = 1000


class SpoolWriter:
    """Appends batches of row tuples to a file (pickle: written and read only by us)."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.count = 0
        self._handle: IO[bytes] | None = path.open("wb")

    def write(self, batch: Sequence[tuple[Any, ...]]) -> None:
        """Keep rows until ``limit`` rows are stored; later rows are dropped."""
        room = self.limit - self.count
        if room <= 0 or self._handle is None:
            return
        part = list(batch[:room])
        pickle.dump(part, self._handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += len(part)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_spool(path: Path) -> Iterator[tuple[Any, ...]]:
    """The spooled rows, one batch in memory at a time."""
    with path.open("rb") as handle:
        while True:
            try:
                batch = pickle.load(handle)
            except EOFError:
                return
            yield from batch
