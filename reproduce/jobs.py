"""The `make` jobs (reproduce/jobs.yaml) and the profiles' flag overrides (reproduce/profiles.yaml)."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from nasrepro.errors import ConfigError
from nasrepro.systems import PAPER_SYSTEMS as SYSTEMS
from nasrepro.systems import PROFILES

HERE = Path(__file__).resolve().parent
JOBS_FILE = HERE / "jobs.yaml"
PROFILES_FILE = HERE / "profiles.yaml"
STATUSES = ("ready", "planned")

_REQUIRED = {"system": str, "summary": str, "status": str}
_OPTIONAL = {"issue": int, "cwd": str, "command": list, "data": str, "data_flag": str,
             "output_flag": str, "gpu_hours": (int, float), "processes": int,
             "resume_flag": str, "dataset_flag": str, "datasets": dict, "arc_from": dict,
             "run_dir_of": str}
_ARC_FROM_KEYS = ("job", "file", "flag")
# `pass: path` hands the file's path to the flag instead of its contents (a config file).
_ARC_FROM_OPTIONAL = {"pass": ("contents", "path")}
_NEEDED_WHEN_READY = ("cwd", "command", "data", "data_flag", "output_flag")


@dataclass(frozen=True)
class Job:
    name: str
    system: str
    summary: str
    status: str
    issue: Optional[int] = None
    cwd: Optional[str] = None
    command: tuple = ()
    data: Optional[str] = None
    data_flag: Optional[str] = None
    output_flag: Optional[str] = None
    gpu_hours: Optional[float] = None
    # Processes the job's launcher starts under the mini and smoke profiles (its NPROC);
    # paper runs keep the script's own count. An NPROC in the environment wins.
    processes: Optional[int] = None
    # Appended to every `make` run so a killed job resumes (scripts run by hand reset).
    resume_flag: Optional[str] = None
    # DATASET=NAME: datasets maps NAME to the embedded data name; the first one is the default.
    dataset_flag: Optional[str] = None
    datasets: dict = field(default_factory=dict)
    # The architecture another job found: {job, file (in that job's run dir), flag}.
    arc_from: dict = field(default_factory=dict)
    # Work in another job's run directory instead of its own (a test script reading the
    # checkpoint a training job wrote there).
    run_dir_of: Optional[str] = None
    profiles: dict = field(default_factory=dict)

    def flags_for(self, profile: str) -> list:
        """The profile's flag overrides as command-line arguments, in file order."""
        return [_render_flag(self.name, flag, value)
                for flag, value in (self.profiles.get(profile) or {}).items()]


def load_jobs(jobs_file=JOBS_FILE, profiles_file=PROFILES_FILE) -> dict:
    """All jobs by name, validated, with their profile overrides attached."""
    jobs_raw = _read_yaml(jobs_file)
    profiles_raw = _read_yaml(profiles_file)
    jobs = {}
    for name, record in jobs_raw.items():
        where = f"{jobs_file}: job '{name}'"
        if not isinstance(record, dict):
            raise ConfigError(f"{where}: expected a mapping of fields")
        for key, kind in _REQUIRED.items():
            if not isinstance(record.get(key), kind):
                raise ConfigError(f"{where}: field '{key}' is missing or not a {kind.__name__}")
        for key, value in record.items():
            if key in _REQUIRED:
                continue
            if key not in _OPTIONAL:
                raise ConfigError(f"{where}: unknown field '{key}'; known: "
                                  f"{sorted(set(_REQUIRED) | set(_OPTIONAL))}")
            if not isinstance(value, _OPTIONAL[key]) or isinstance(value, bool):
                raise ConfigError(f"{where}: field '{key}' has the wrong type ({value!r})")
        if record["system"] not in SYSTEMS:
            raise ConfigError(f"{where}: system '{record['system']}' is not one of {SYSTEMS}")
        if record["status"] not in STATUSES:
            raise ConfigError(f"{where}: status '{record['status']}' is not one of {STATUSES}")
        if record["status"] == "ready":
            missing = [k for k in _NEEDED_WHEN_READY if not record.get(k)]
            if missing:
                raise ConfigError(f"{where}: a ready job needs {', '.join(missing)}")
        if "datasets" in record and not record.get("dataset_flag"):
            raise ConfigError(f"{where}: 'datasets' needs a 'dataset_flag'")
        for key, value in record.get("datasets", {}).items():
            if not isinstance(value, str):
                raise ConfigError(f"{where}: datasets.{key} should name an embedded dataset")
        arc_from = record.get("arc_from", {})
        if arc_from and sorted(k for k in arc_from if k not in _ARC_FROM_OPTIONAL) != \
                sorted(_ARC_FROM_KEYS):
            raise ConfigError(f"{where}: arc_from needs exactly the keys {_ARC_FROM_KEYS} "
                              f"(and optionally {', '.join(_ARC_FROM_OPTIONAL)})")
        for key, allowed in _ARC_FROM_OPTIONAL.items():
            if key in arc_from and arc_from[key] not in allowed:
                raise ConfigError(f"{where}: arc_from.{key}={arc_from[key]!r}: expected one of "
                                  f"{', '.join(allowed)}")
        record = dict(record, command=tuple(str(c) for c in record.get("command", ())))
        jobs[name] = Job(name=name, profiles={}, **record)
    for name, per_profile in profiles_raw.items():
        where = f"{profiles_file}: '{name}'"
        if name not in jobs:
            raise ConfigError(f"{where}: no such job in {jobs_file.name}")
        if not isinstance(per_profile, dict):
            raise ConfigError(f"{where}: expected a mapping of profile -> flags")
        for profile, flags in per_profile.items():
            if profile not in PROFILES or profile == "paper":
                raise ConfigError(f"{where}: profile '{profile}' is not one of mini, smoke "
                                  "(paper runs the original values and takes no overrides)")
            if not isinstance(flags, dict):
                raise ConfigError(f"{where}.{profile}: expected a mapping of flag -> value")
        jobs[name].profiles.update(per_profile)
    for name, job in jobs.items():
        if job.arc_from and job.arc_from["job"] not in jobs:
            raise ConfigError(f"{jobs_file}: job '{name}': arc_from names unknown job "
                              f"'{job.arc_from['job']}'")
        if job.run_dir_of is not None and job.run_dir_of not in jobs:
            raise ConfigError(f"{jobs_file}: job '{name}': run_dir_of names unknown job "
                              f"'{job.run_dir_of}'")
    return jobs


def _render_flag(job: str, flag: str, value) -> str:
    if flag.startswith("-"):
        raise ConfigError(f"profiles.yaml: job '{job}': write flag '{flag}' without dashes")
    if value is True:
        return f"--{flag}"
    if value is None or isinstance(value, (dict, list)):
        raise ConfigError(f"profiles.yaml: job '{job}': flag '{flag}' needs a scalar value, "
                          f"got {value!r}")
    if value is False:
        value = "false"
    return f"--{flag}={value}"


def _read_yaml(path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data
