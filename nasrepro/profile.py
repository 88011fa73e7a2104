"""Which scale a run is at: `paper`, `mini` or `smoke` (DESIGN.md "Scales: profiles").

`make` jobs export NASREPRO_PROFILE; a script run by hand has none and runs the paper values."""
import os

from .errors import ConfigError

PROFILES = ("paper", "mini", "smoke")
ENV_VAR = "NASREPRO_PROFILE"


def current_profile() -> str:
    """The profile of this process, from NASREPRO_PROFILE (default `paper`)."""
    value = os.environ.get(ENV_VAR, "").strip() or "paper"
    if value not in PROFILES:
        raise ConfigError(f"{ENV_VAR}={value!r} is not a profile; expected one of "
                          f"{', '.join(PROFILES)}")
    return value
