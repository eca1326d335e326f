"""The ReportSchedule API (bulletin.dev/v1alpha1): pydantic models, the source of the CRD."""
