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


def check_positive(args, *names, expected: str = "a positive number") -> None:
    """Raise ConfigError "--<name>=<value>: expected <expected>" for the first flag of `names`
    (attributes of `args`) that is missing or not positive."""
    for name in names:
        value = getattr(args, name)
        if value is None or value <= 0:
            raise ConfigError(f"--{name}={value}: expected {expected}")


def check_probability(args, *names) -> None:
    """Raise ConfigError for the first flag of `names` that is not a keep probability."""
    for name in names:
        value = getattr(args, name)
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"--{name}={value}: expected a keep probability in (0, 1]")
