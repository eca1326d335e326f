"""A retry of a run that status already records as ended does not run it again.

A Job may start its run more than once with the same run id (the Job's name): a new pod after
a crash or a lost node, or the Job deleted and made again. A run whose history entry has ended
is left as it is: nothing is queried, rendered or sent, and the entry keeps its times. The one
ended run that is run again is a crash (an exception the runner did not expect), which the
runner records as an internal error and leaves for its Job to retry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bulletin.api.status import ReportScheduleStatus, RunResult

if TYPE_CHECKING:
    from bulletin.api.client import Kube
    from bulletin.context import RunContext

log = logging.getLogger("bulletin.runner")
# How run.run_one's message for a crash begins ("internal error (KeyError): ...").
CRASHED = "internal error ("


def ended_result(status: ReportScheduleStatus, run_id: str) -> RunResult | None:
    """The result status.history records for run ``run_id`` once it ended; None while it has
    no end (not started, still running, or scrolled out of history) and for a crash."""
    entry = status.run(run_id)
    if entry is None or not entry.end_time or not entry.result:
        return None
    crashed = (entry.message or "").startswith(CRASHED)
    if entry.result is RunResult.FAILED and crashed:
        return None
    return entry.result


def ended_before(ctx: RunContext, kube: Kube) -> RunResult | None:
    """The recorded result when this run already ended (its Job was retried), else None."""
    status = ReportScheduleStatus.of(kube.get_schedule(ctx.namespace, ctx.schedule))
    result = ended_result(status, ctx.run_id)
    if result is not None:
        log.info("run %s already ended (%s): a retry of its Job does not run it again",
                 ctx.run_id, result.value)
    return result
