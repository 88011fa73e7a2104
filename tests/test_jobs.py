"""The `make` jobs table, the profiles' overrides and the runner's command line."""
import textwrap

import pytest

from nasrepro.errors import ConfigError, NasreproError
from reproduce import run
from reproduce.jobs import load_jobs


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


READY_JOB = """
    demo-final:
      system: NAO-V2
      summary: a demo job
      status: ready
      cwd: NAO-V2
      command: [bash, train_demo.sh]
      data: cifar10
      data_flag: --data
      output_flag: --output_dir
    demo-planned:
      system: ENAS
      summary: a job that has not landed
      status: planned
      issue: 3
"""


def test_repository_jobs_load_and_match_the_makefile():
    jobs = load_jobs()
    makefile = (run.REPO_ROOT / "Makefile").read_text()
    listed = makefile.split("JOBS :=", 1)[1].split("\n\n", 1)[0].replace("\\", " ").split()
    assert sorted(listed) == sorted(jobs)
    assert "enas-search" in jobs and jobs["enas-search"].system == "ENAS"


def test_profile_flags_render_in_file_order(tmp_path):
    jobs_file = write(tmp_path, "jobs.yaml", READY_JOB)
    profiles = write(tmp_path, "profiles.yaml", """
        demo-final:
          mini: {epochs: 3, use_aux_head: true, cutout_size: 0, autoaugment: false}
    """)
    job = load_jobs(jobs_file, profiles)["demo-final"]
    assert job.flags_for("mini") == ["--epochs=3", "--use_aux_head", "--cutout_size=0",
                                     "--autoaugment=false"]
    assert job.flags_for("smoke") == []
    assert job.flags_for("paper") == []


@pytest.mark.parametrize("profiles_text, message", [
    ("other-job: {mini: {epochs: 1}}", "no such job"),
    ("demo-final: {paper: {epochs: 1}}", "profile 'paper'"),
    ("demo-final: {mini: [epochs]}", "expected a mapping of flag"),
])
def test_bad_profiles_name_the_entry(tmp_path, profiles_text, message):
    jobs_file = write(tmp_path, "jobs.yaml", READY_JOB)
    profiles = write(tmp_path, "profiles.yaml", profiles_text)
    with pytest.raises(ConfigError, match=message):
        load_jobs(jobs_file, profiles)


@pytest.mark.parametrize("jobs_text, message", [
    ("x: {system: ENAS, summary: s, status: ready}", "a ready job needs cwd"),
    ("x: {system: DARTS, summary: s, status: planned}", "system 'DARTS'"),
    ("x: {system: ENAS, summary: s, status: planned, colour: red}", "unknown field 'colour'"),
    ("x: {system: ENAS, status: planned}", "'summary' is missing"),
])
def test_bad_jobs_name_the_job_and_field(tmp_path, jobs_text, message):
    jobs_file = write(tmp_path, "jobs.yaml", jobs_text)
    profiles = write(tmp_path, "profiles.yaml", "{}")
    with pytest.raises(ConfigError, match=message):
        load_jobs(jobs_file, profiles)


def test_command_appends_data_output_profile_and_user_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_RUNS", str(tmp_path / "runs"))
    data = tmp_path / "cifar"
    data.mkdir()
    jobs_file = write(tmp_path, "jobs.yaml", READY_JOB)
    profiles = write(tmp_path, "profiles.yaml", "demo-final: {mini: {epochs: 2}}")
    job = load_jobs(jobs_file, profiles)["demo-final"]
    argv, cwd, env = run.build_command(job, "mini", data=str(data), extra=["--seed=3"])
    run_dir = tmp_path / "runs" / "NAO-V2" / "demo-final-mini"
    assert argv == ["bash", "train_demo.sh", f"--data={data}", f"--output_dir={run_dir}",
                    "--epochs=2", "--seed=3"]
    assert cwd == run.REPO_ROOT / "NAO-V2"
    assert env["NASREPRO_PROFILE"] == "mini" and env["NASREPRO_JOB"] == "demo-final"


def test_paper_profile_needs_data_and_planned_jobs_say_which_issue(tmp_path):
    jobs = load_jobs(write(tmp_path, "jobs.yaml", READY_JOB),
                     write(tmp_path, "profiles.yaml", "{}"))
    with pytest.raises(NasreproError, match="PROFILE=paper needs the real dataset"):
        run.build_command(jobs["demo-final"], "paper")
    with pytest.raises(NasreproError, match="does-not-exist: no such file"):
        run.build_command(jobs["demo-final"], "paper", data=str(tmp_path / "does-not-exist"))
    with pytest.raises(NasreproError, match="not implemented yet; it comes with issue 3"):
        run.build_command(jobs["demo-planned"], "mini")


def test_main_reports_unknown_and_planned_jobs(capsys):
    assert run.main(["no-such-job"]) == 2
    assert "unknown job 'no-such-job'" in capsys.readouterr().err
    planned = [name for name, job in load_jobs().items() if job.status == "planned"]
    if planned:
        assert run.main([planned[0]]) == 2
        assert "not implemented yet" in capsys.readouterr().err
