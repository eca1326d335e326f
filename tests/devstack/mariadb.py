"""A throwaway MariaDB server (Debian's mariadb-server), run as the `mysql` user when root."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from localkube._proc import stop_proc

from devstack.ports import HOST, LISTEN, free_port

# Time zones whose rules the server loads (a fresh data directory has none); the runner falls
# back to a fixed UTC offset for zones the server does not know.
ZONES = ("Europe/Berlin",)


def _require(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if not found:
        raise RuntimeError(f"{name} not found: apt-get install mariadb-server mariadb-client")
    return found


class MariaDB:
    """mariadb-install-db + mariadbd in a private directory on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket = root / "mysqld.sock"
        self.port = free_port()
        self.user = "bulletin"
        self.password = "bulletin-maria-pw"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """An SQLAlchemy URL for the `bulletin` database (the runner picks the driver)."""
        return f"mysql://{self.user}:{self.password}@{HOST}:{self.port}/bulletin"

    def start(self) -> MariaDB:
        """Initialise the data directory, start the server and create the user and database."""
        self.root.mkdir(parents=True, exist_ok=True)
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(self.root, "mysql")
        user = ["--user=mysql"] if as_root else []
        subprocess.run([_require("mariadb-install-db"), *user, f"--datadir={self.data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        "--skip-name-resolve"], check=True, capture_output=True, text=True)
        log = (self.root / "log").open("ab")
        self.proc = subprocess.Popen(
            [_require("mariadbd"), "--no-defaults", *user, f"--datadir={self.data}",
             f"--socket={self.socket}", f"--port={self.port}", f"--bind-address={LISTEN}",
             f"--pid-file={self.root / 'mysqld.pid'}", "--skip-name-resolve",
             "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"],
            stdout=log, stderr=log)
        self._wait()
        zones = subprocess.run([_require("mariadb-tzinfo-to-sql"),
                                *(arg for z in ZONES for arg in (f"/usr/share/zoneinfo/{z}", z))],
                               check=True, capture_output=True, text=True).stdout
        self._admin(f"USE mysql; {zones}")
        self._admin(f"CREATE DATABASE bulletin; CREATE USER '{self.user}'@'%' IDENTIFIED BY"
                    f" '{self.password}'; GRANT ALL ON bulletin.* TO '{self.user}'@'%';")
        return self

    def _admin(self, sql: str) -> str:
        proc = subprocess.run([_require("mariadb"), "--no-defaults", f"--socket={self.socket}",
                               "-uroot", "--batch", "--skip-column-names"],
                              input=sql, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"mariadb failed: {proc.stderr}")
        return proc.stdout

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.root / 'log').read_text()[-2000:]}")
            try:
                self._admin("SELECT 1")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def execute(self, sql: str) -> str:
        """Run SQL (several statements allowed) in the `bulletin` database; its output."""
        return self._admin(f"USE bulletin; {sql}")

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.proc is not None:
            stop_proc(self.proc, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
