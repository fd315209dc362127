"""Errors that say whether trying again could help."""


class PermanentError(Exception):
    """Retrying cannot help (a payload we cannot read, an unknown customer): record and stop."""
