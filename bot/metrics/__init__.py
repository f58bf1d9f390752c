"""Agent response metrics (metrics.md): pure rules, the live board and its consumer."""
