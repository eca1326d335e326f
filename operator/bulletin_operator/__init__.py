"""The Bulletin operator: turns ReportSchedules into CronJobs (run with `kopf run -m bulletin_operator.handlers`)."""
