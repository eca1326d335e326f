"""The Bulletin operator: ReportSchedules to CronJobs (`kopf run -m bulletin_operator.handlers`)."""
