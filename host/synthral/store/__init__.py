"""Storage: the tables (SQLAlchemy Core), the async database (SQLite or PostgreSQL) and migrations."""
