"""Real local services for tests and the demo: PostgreSQL, an SMTP sink, and the operator process."""
