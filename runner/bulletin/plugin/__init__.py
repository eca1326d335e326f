"""`kubectl bulletin`: a kubectl plugin for ReportSchedules (the `kubectl-bulletin` script).

Subcommands: run, link, history, next, logs, suspend, resume, status (get, list), console,
completion.
Output follows kubectl's habits: tables with relative ages, ``-o json|yaml``, ``-n``/``-A``,
``-l``, ``--no-headers``, errors on stderr.
"""

from __future__ import annotations

from bulletin.plugin.cli import main

__all__ = ["main"]
