"""A throwaway PostgreSQL server (Debian's binaries), run as the `postgres` user when root."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from devstack.ports import HOST, LISTEN, free_port


def _bindir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")


class Postgres:
    """initdb + pg_ctl in a private directory on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.password = "bulletin-test-pw"
        self.user = "bulletin"
        self.bindir = _bindir()

    @property
    def url(self) -> str:
        """An SQLAlchemy URL for the `bulletin` database."""
        return f"postgresql://{self.user}:{self.password}@{HOST}:{self.port}/bulletin"

    def _run(self, *args: str, input_: str | None = None) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, input=input_, text=True, capture_output=True)

    def start(self) -> Postgres:
        """initdb, start, and create the role and database."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text("postgres-admin\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync")
        with (self.data / "pg_hba.conf").open("a") as hba:  # pods connect from the pod network
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses={LISTEN} -c fsync=off"
                  " -c full_page_writes=off -c synchronous_commit=off", "start")
        for sql in (f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'",
                    f"CREATE DATABASE bulletin OWNER {self.user}"):
            self._psql(sql, db="postgres", user="postgres", password="postgres-admin")
        return self

    def _psql(self, sql: str, *, db: str, user: str, password: str) -> None:
        env = {**os.environ, "PGPASSWORD": password}
        deadline = time.monotonic() + 30
        while True:
            proc = subprocess.run(
                ["psql", "-h", HOST, "-p", str(self.port), "-U", user, "-d", db,
                 "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                env=env, capture_output=True, text=True,
            )
            if proc.returncode == 0:
                return
            if "could not connect" not in proc.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"psql failed: {proc.stderr}")
            time.sleep(0.2)

    def execute(self, sql: str) -> None:
        """Run SQL as the `bulletin` user."""
        self._psql(sql, db="bulletin", user=self.user, password=self.password)

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.data.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
