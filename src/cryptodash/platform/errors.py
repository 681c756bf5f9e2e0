"""Errors the platform adapters raise instead of their libraries' own exceptions."""


class BackendUnavailable(Exception):
    """A backend (database, cache, bus) could not be reached or refused the operation."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend} unavailable: {detail}")
        self.backend = backend
        self.detail = detail
