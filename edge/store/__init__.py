"""The store's SQLite database: connection set-up, migrations, event log, projections, writer."""
