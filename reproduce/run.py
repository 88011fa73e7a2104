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

from nasrepro.errors import NasreproError
from nasrepro.paths import REPO_ROOT
from nasrepro.profile import ENV_VAR, PROFILES
from nasrepro.rundir import job_run_dir

from .jobs import load_jobs


def build_command(job, profile: str, data=None, extra=()) -> tuple:
    """The argv, working directory and environment for `job` under `profile`."""
    if job.status != "ready":
        where = f"issue {job.issue}" if job.issue else "a later issue (none filed yet)"
        raise NasreproError(f"make {job.name}: {job.system} ({job.summary}) is not implemented "
                            f"yet; it comes with {where}.")
    if profile not in PROFILES:
        raise NasreproError(f"PROFILE={profile} is not one of {', '.join(PROFILES)}")
    if data:
        data_path = Path(data).expanduser().resolve()
        if not data_path.exists():
            raise NasreproError(f"DATA={data}: no such file or folder")
    elif profile == "paper":
        raise NasreproError(f"make {job.name} PROFILE=paper needs the real dataset: pass "
                            f"DATA=<path> (the '{job.data}' layout), or drop PROFILE=paper to run "
                            "the embedded data under the mini profile.")
    else:
        from nasrepro.data import embedded_path
        data_path = embedded_path(job.data)
    run_dir = job_run_dir(job.system, job.name, profile)
    argv = [*job.command, f"{job.data_flag}={data_path}", f"{job.output_flag}={run_dir}",
            *job.flags_for(profile), *extra]
    env = dict(os.environ, **{ENV_VAR: profile, "NASREPRO_JOB": job.name,
                              "NASREPRO_RUN_DIR": str(run_dir)})
    return argv, REPO_ROOT / job.cwd, env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reproduce.run", description=__doc__)
    parser.add_argument("job", help="a job of reproduce/jobs.yaml, e.g. enas-search")
    parser.add_argument("--profile", default="mini", choices=PROFILES)
    parser.add_argument("--data", default=None, help="the real dataset (needed by paper)")
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="flags passed on to the script, after `--`")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    try:
        jobs = load_jobs()
        if args.job not in jobs:
            raise NasreproError(f"unknown job '{args.job}'; jobs: {', '.join(sorted(jobs))}")
        command, cwd, env = build_command(jobs[args.job], args.profile, args.data, extra)
    except NasreproError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"[{args.job}] cd {cwd.relative_to(REPO_ROOT)} && {shlex.join(command)}", flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command, cwd=cwd, env=env)


if __name__ == "__main__":
    sys.exit(main())
