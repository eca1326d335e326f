"""The run archive: every run's record, kept in SQL (PostgreSQL or MySQL/MariaDB) for the
retention the platform team sets, and the audit of downloads and links. The operator writes
runs; the console and the plugin read them (and write the audit) for schedules the user may
read. Tenants hold no credentials of it."""
