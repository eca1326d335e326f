"""SIGTERM in a runner pod (deleted, evicted, drained): finish the send in flight and its ledger
write, start nothing new, and exit, so that the Job's next pod sends only what was not sent.

Outside a send the signal stops the run at once (``Terminated``, a BaseException that no
``except Exception`` swallows); inside one (``finishing()``) it waits for the send and its
record, then stops. A retry's wait (``pause``) ends at the signal. Only a SIGKILL (the grace
period running out, or a node lost) between a receiver's acknowledgement and the ledger write
leaves a repeat, and that repeat carries the same Message-ID or delivery id.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger("bulletin.run")
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class Terminated(BaseException):
    """The pod is being stopped: the run ends here; its ledger has every send."""


class _State:
    stop = threading.Event()
    depth = 0  # finishing() blocks entered and not left (main thread only)


def install() -> None:
    """Handle SIGTERM as above (the runner's main thread, before the run)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if not _State.stop.is_set():
        log.warning("SIGTERM: %s", "finishing the send in flight, then stopping"
                    if _State.depth else "stopping; nothing is being sent")
    _State.stop.set()
    if _State.depth == 0:
        raise Terminated


def stopping() -> bool:
    return _State.stop.is_set()


@contextmanager
def finishing() -> Iterator[None]:
    """A send and its ledger write: a SIGTERM meanwhile takes effect when the block ends."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if _State.depth == 0 and _State.stop.is_set():
        raise Terminated


def pause(seconds: float) -> None:
    """Wait ``seconds`` before a retry, unless the pod is being stopped."""
    if _State.stop.wait(seconds):
        raise Terminated
