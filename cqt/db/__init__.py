"""PostgreSQL access: which server to use, connections in UTC, migrations."""
