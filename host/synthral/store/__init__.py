"""Storage: SQLModel tables, the async database (SQLite or PostgreSQL) and migrations."""
