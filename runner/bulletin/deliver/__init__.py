"""Delivery: every target of a run exactly once, recorded in status as it happens.

Entry point: ``targets.deliver_all``; what it needs from a report: ``content.ReportLike``;
how secrets reach the pod: ``bulletin.api.podenv``.
"""
