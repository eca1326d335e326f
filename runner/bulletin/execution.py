"""A run's work once it is due: check the gates, query and render (one report, or one per burst
recipient), deliver, and fill in the run's record. Failures users should read are BulletinErrors
(bulletin.api.errors), which pass through to the run's record unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bulletin.api.errors import ConfigurationError, Reason
from bulletin.api.spec import ReportScheduleSpec
from bulletin.api.status import RunRecord, RunResult
from bulletin.context import RunContext
from bulletin.gates import check_assertions, check_rows
from bulletin.period import Period
from bulletin.query import QueryLimits

if TYPE_CHECKING:
    from bulletin.api.client import Kube
    from bulletin.ledger import Ledger
    from bulletin.report import BuiltReport
    from bulletin.shardledger import ShardLedger


def produce(ctx: RunContext, spec: ReportScheduleSpec, period: Period, url: str) -> BuiltReport:
    """Query every dataset once and render every format into the run's work directory."""
    from bulletin.deliver.netguard import guarded_client
    from bulletin.protect import protect_report, required_password
    from bulletin.report import build_report
    from bulletin.sources.prometheus import from_spec

    config = ctx.config
    password = required_password(spec.protection, config) if spec.protection else ""
    report = build_report(spec, schedule_name=ctx.schedule, namespace=ctx.namespace,
                          period=period, db_url=url or None, outdir=ctx.workdir / ctx.run_id,
                          templates_dir=config.templates_dir,
                          prometheus=from_spec(spec, config, guarded_client))
    if spec.protection is not None:
        report = protect_report(report, spec.protection, password)
    return report


def execute(
    ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord, period: Period, kube: Kube
) -> None:
    """Gate, produce and deliver, filling in ``record``; a failure raises its BulletinError."""
    from bulletin.deliver.dispatch import deliver_all, run_result
    from bulletin.ledger import StatusLedger

    url = ctx.config.db_url
    if spec.source.connection_secret_ref is not None and not url:
        raise ConfigurationError("no database URL: check spec.source.connectionSecretRef")
    skip = check_assertions(spec.gates, url, period.params(), period.time_zone,
                            QueryLimits.of(spec.source))
    ledger = StatusLedger(kube, ctx.namespace, ctx.schedule, ctx.run_id)
    if skip is None and spec.delivery.burst is not None:
        return execute_burst(ctx, spec, record, period, url, ledger, shard_book(ctx, spec, kube))
    if skip is None:
        report = produce(ctx, spec, period, url)
        record.rows, record.bytes = report.rows, report.bytes
        skip = check_rows(spec.gates, report.datasets)
    if skip is not None:
        record.result, record.message = RunResult.SKIPPED, f"delivery skipped: {skip}"
        return
    record.deliveries = deliver_all(spec, ctx, report, ledger, period)
    record.recipients = sorted({r for d in record.deliveries for r in d.recipients})
    record.result, record.message = run_result(record.deliveries)
    record.reason = failed_delivery(record.result)


def shard_book(ctx: RunContext, spec: ReportScheduleSpec, kube: Kube) -> ShardLedger:
    """This pod's shard's ledger: its ConfigMap, owned by the run's Job."""
    from bulletin.deliver.burst import burst_targets
    from bulletin.shardledger import ConfigMapStore, ShardLedger
    from bulletin.shards import Shard

    shard = Shard.of(ctx.config)
    labels = {"app.kubernetes.io/name": "bulletin", "app.kubernetes.io/component": "ledger",
              "bulletin.dev/schedule": ctx.schedule[:63]}
    store = ConfigMapStore(kube.core, ctx.namespace, f"{ctx.run_id}-shard-{shard.index}",
                           labels, (ctx.run_id, shard.job_uid) if shard.job_uid else None)
    return ShardLedger(store, burst_targets(spec))


def execute_burst(ctx: RunContext, spec: ReportScheduleSpec, record: RunRecord, period: Period,
                  url: str, ledger: Ledger, book: ShardLedger) -> None:
    """A burst: one report per recipient of this pod's shard, each sent once. A test send
    (run-now --to) sends the first recipient's report to the --to addresses instead."""
    from bulletin.assembly.burst import Recipient, recipients, report_spec
    from bulletin.deliver.burst import burst_result, deliver_burst
    from bulletin.deliver.netguard import guarded_client
    from bulletin.protect import protect_report, recipient_password
    from bulletin.report import build_report
    from bulletin.shards import Shard
    from bulletin.sources.prometheus import from_spec

    config = ctx.config
    reports = report_spec(spec)
    prometheus = from_spec(spec, config, guarded_client)

    def build(recipient: Recipient, outdir: Path) -> BuiltReport:
        password = (recipient_password(spec.protection, config, recipient.password)
                    if spec.protection is not None else "")
        report = build_report(reports, schedule_name=ctx.schedule, namespace=ctx.namespace,
                              period=period, db_url=url, outdir=outdir, params=recipient.params,
                              templates_dir=config.templates_dir, prometheus=prometheus)
        if spec.protection is not None:
            report = protect_report(report, spec.protection, password)
        return report

    found = recipients(spec, period, url)
    if ctx.options.to and found:
        found = [Recipient(address, found[0].params, found[0].password)
                 for address in ctx.options.to]
    if not found:
        record.result = RunResult.SKIPPED
        record.message = "delivery skipped: the burst dataset returned no recipients"
        return
    shard = Shard.of(config)
    record.deliveries, record.rows, record.bytes = deliver_burst(
        spec, ctx, period, ledger, shard.mine(found), build, book=book, shard=shard)
    record.result, record.message = burst_result(record.deliveries[-1])
    record.reason = failed_delivery(record.result)


def failed_delivery(result: RunResult) -> Reason | None:
    """DeliveryFailed for a run that reached nobody or not everyone, else no reason."""
    failed = result in (RunResult.FAILED, RunResult.PARTIALLY_DELIVERED)
    return Reason.DELIVERY_FAILED if failed else None
