"""Infrastructure with swappable backends (database, cache, bus, metrics, logging); no business logic."""
