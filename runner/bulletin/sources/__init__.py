"""Data sources besides SQL databases (those are bulletin.query)."""
