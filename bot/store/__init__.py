"""The store: tables, the engine, and session-first data functions. SQL lives only here."""
