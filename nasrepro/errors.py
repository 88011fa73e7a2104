"""Exceptions that carry a message a user can act on.

Every error names the file, flag or position at fault and what was expected, so
scripts can print ``str(err)`` and exit without a traceback."""


class NasreproError(Exception):
    """Base class: an input problem the user can fix."""


class DataError(NasreproError, ValueError):
    """A dataset is missing, incomplete or in the wrong format."""


class ConfigError(NasreproError, ValueError):
    """A flag, profile or configuration value is not valid."""


class ResultsError(NasreproError, ValueError):
    """A results.json (or claims record) does not follow its schema."""


def check_value(ok: bool, owner: str, name: str, value, expected: str) -> None:
    """Raise ConfigError "<owner> <name>=<value>: expected <expected>" unless `ok`."""
    if not ok:
        raise ConfigError(f"{owner} {name}={value!r}: expected {expected}")
