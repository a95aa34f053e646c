"""Errors moekit raises for bad input: each names the field, the value and what is allowed."""


class MoekitError(ValueError):
    """Base class for every error moekit raises on bad input."""


class SpecError(MoekitError):
    """A model, hardware, workload, strategy or scenario field is missing or invalid."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"{where}: {message}")
