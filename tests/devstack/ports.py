"""Where test servers listen: the node address inside the harness's network namespace (so
pods reach them), or loopback outside it (unit tests run by hand)."""

from __future__ import annotations

import os
import socket

HOST = os.environ.get("LOCALKUBE_NODE_IP") or "127.0.0.1"
# What they bind: every address of the namespace (it has no route out), so unit tests reach them
# on loopback and pods on the node address; loopback only outside the namespace.
LISTEN = "0.0.0.0" if os.environ.get("LOCALKUBE_NODE_IP") else "127.0.0.1"


def free_port() -> int:
    """A TCP port on HOST that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LISTEN, 0))
        return int(sock.getsockname()[1])
