"""Gateway: middleware, error handling, health, routing and the static frontend."""
