"""Django's PostgreSQL backend with a health check that costs no round trip on a quiet connection
(``newsroom.postgresql.base``). Chosen in settings for a ``postgres://`` DATABASE_URL."""
