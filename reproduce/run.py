"""Runs one `make` job: `python -m reproduce.run JOB --profile mini [--data PATH] [-- FLAGS]`.

The job's original script runs from its paper folder with, appended in this order: the data
flag, the output flag (runs/<system>/<job>-<profile>/), the profile's overrides and the user's
extra flags (scripts append "$@", and a later flag wins)."""
import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from nasrepro.data.locate import resolve_data_path
from nasrepro.environment import REPO_ROOT, job_environment
from nasrepro.errors import NasreproError
from nasrepro.runs.output_dir import job_run_dir
from nasrepro.systems import PROFILES

from .jobs import load_jobs


def dataset_choice(job, dataset=None) -> tuple:
    """(dataset name or None, embedded data name, run-name suffix) for DATASET=`dataset`."""
    if dataset is None:
        return None, job.data, ""
    if not job.datasets:
        raise NasreproError(f"make {job.name}: DATASET= is not supported by this job")
    if dataset not in job.datasets:
        raise NasreproError(f"DATASET={dataset}: make {job.name} knows "
                            f"{', '.join(job.datasets)}")
    default = next(iter(job.datasets))
    return dataset, job.datasets[dataset], "" if dataset == default else "-" + dataset.lower()


def run_dir_for(job, profile: str, suffix: str = "") -> Path:
    return job_run_dir(job.system, job.name + suffix, profile)


def arc_flags(job, jobs, profile: str, suffix: str) -> list:
    """The architecture found by the job named in `arc_from`, as a flag, if that run left one."""
    if not job.arc_from:
        return []
    source = jobs[job.arc_from["job"]]
    file = run_dir_for(source, profile, suffix) / job.arc_from["file"]
    if not file.is_file():
        print(f"[{job.name}] no {file.relative_to(REPO_ROOT) if file.is_relative_to(REPO_ROOT) else file}"
              f" (run `make {source.name}` first to train what it finds); using the script's "
              "published architecture", flush=True)
        return []
    if job.arc_from.get("pass") == "path":
        print(f"[{job.name}] {job.arc_from['flag']}={file}", flush=True)
        return [f"{job.arc_from['flag']}={file}"]
    arc = " ".join(file.read_text().split())
    if not arc:
        raise NasreproError(f"{file}: empty; rerun make {source.name}")
    print(f"[{job.name}] architecture from {file}: {arc}", flush=True)
    return [f"{job.arc_from['flag']}={arc}"]


def build_command(job, profile: str, data=None, extra=(), dataset=None, jobs=None) -> tuple:
    """The argv, working directory and environment for `job` under `profile`."""
    if job.status != "ready":
        where = f"issue {job.issue}" if job.issue else "a later issue (none filed yet)"
        raise NasreproError(f"make {job.name}: {job.system} ({job.summary}) is not implemented "
                            f"yet; it comes with {where}.")
    if profile not in PROFILES:
        raise NasreproError(f"PROFILE={profile} is not one of {', '.join(PROFILES)}")
    dataset, data_name, suffix = dataset_choice(job, dataset)
    if data:
        data_path = Path(data).expanduser().resolve()
        if not data_path.exists():
            raise NasreproError(f"DATA={data}: no such file or folder")
    else:
        # Paper runs need the real data; mini and smoke take the embedded default.
        data_path = resolve_data_path(None, data_name, profile, flag="DATA",
                                      needed_by=f"make {job.name} PROFILE={profile}")
    owner = (jobs or {}).get(job.run_dir_of, job) if job.run_dir_of else job
    run_dir = run_dir_for(owner, profile, suffix)
    command = list(job.command)
    if command[0] == "python":
        command[0] = sys.executable  # the jobs' Python entry points run in this interpreter
    argv = [*command, f"{job.data_flag}={data_path}", f"{job.output_flag}={run_dir}"]
    if dataset is not None:
        argv.append(f"{job.dataset_flag}={dataset}")
    if job.resume_flag:
        argv.append(job.resume_flag)
    argv += arc_flags(job, jobs or {}, profile, suffix)
    argv += [*job.flags_for(profile), *extra]
    # The shell scripts run $PYTHON: this interpreter (the .venv one under make).
    env = dict(os.environ, PYTHON=sys.executable, **job_environment(profile, job.name))
    if job.processes and profile != "paper":
        env.setdefault("NPROC", str(job.processes))
    return argv, REPO_ROOT / job.cwd, env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reproduce.run", description=__doc__)
    parser.add_argument("job", help="a job of reproduce/jobs.yaml, e.g. enas-search")
    parser.add_argument("--profile", default="mini", choices=PROFILES)
    parser.add_argument("--data", default=None, help="the real dataset (needed by paper)")
    parser.add_argument("--dataset", default=None,
                        help="another dataset the job supports, e.g. CIFAR100 (DATASET=)")
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to the script untouched (argparse's REMAINDER would also
    # swallow this parser's own options when they follow the job name).
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser.epilog = "Flags after `--` are passed on to the script."
    args = parser.parse_args(argv)
    try:
        jobs = load_jobs()
        if args.job not in jobs:
            raise NasreproError(f"unknown job '{args.job}'; jobs: {', '.join(sorted(jobs))}")
        command, cwd, env = build_command(jobs[args.job], args.profile, args.data, extra,
                                          dataset=args.dataset, jobs=jobs)
    except NasreproError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"[{args.job}] cd {cwd.relative_to(REPO_ROOT)} && {shlex.join(command)}", flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command, cwd=cwd, env=env)


if __name__ == "__main__":
    sys.exit(main())
