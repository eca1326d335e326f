"""Real local services for tests and the demo: PostgreSQL, an SMTP sink, the operator."""
