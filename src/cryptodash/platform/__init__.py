"""Infrastructure with swappable backends (database, cache, bus, metrics, logging).

No business logic lives here."""
