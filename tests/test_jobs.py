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


SEARCH_AND_FINAL = """
    demo-search:
      system: ENAS
      summary: a search
      status: ready
      cwd: ENAS
      command: [bash, search.sh]
      data: cifar10
      data_flag: --data_path
      output_flag: --output_dir
      resume_flag: --noreset_output_dir
      dataset_flag: --dataset
      datasets: {CIFAR10: cifar10, CIFAR100: cifar100}
    demo-final:
      system: ENAS
      summary: trains what demo-search found
      status: ready
      cwd: ENAS
      command: [bash, final.sh]
      data: cifar10
      data_flag: --data_path
      output_flag: --output_dir
      dataset_flag: --dataset
      datasets: {CIFAR10: cifar10, CIFAR100: cifar100}
      arc_from: {job: demo-search, file: best_arc.txt, flag: --child_fixed_arc}
"""


def test_dataset_choice_resume_flag_and_architecture_from_the_search(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setenv("NASREPRO_RUNS", str(tmp_path / "runs"))
    data = tmp_path / "c100"
    data.mkdir()
    jobs = load_jobs(write(tmp_path, "jobs.yaml", SEARCH_AND_FINAL),
                     write(tmp_path, "profiles.yaml", "demo-final: {mini: {num_epochs: 2}}"))
    argv, _, _ = run.build_command(jobs["demo-search"], "mini", data=str(data),
                                   dataset="CIFAR100", jobs=jobs)
    search_dir = tmp_path / "runs" / "ENAS" / "demo-search-cifar100-mini"
    assert argv == ["bash", "search.sh", f"--data_path={data}", f"--output_dir={search_dir}",
                    "--dataset=CIFAR100", "--noreset_output_dir"]
    # No search result yet: the final script keeps its published architecture.
    argv, _, _ = run.build_command(jobs["demo-final"], "mini", data=str(data),
                                   dataset="CIFAR100", jobs=jobs)
    assert not any(a.startswith("--child_fixed_arc") for a in argv)
    assert "using the script's published architecture" in capsys.readouterr().out
    search_dir.mkdir(parents=True)
    (search_dir / "best_arc.txt").write_text("0 1\n2 3\n")
    argv, _, _ = run.build_command(jobs["demo-final"], "mini", data=str(data),
                                   dataset="CIFAR100", jobs=jobs, extra=["--seed=1"])
    assert argv[-3:] == ["--child_fixed_arc=0 1 2 3", "--num_epochs=2", "--seed=1"]
    # The default dataset has no suffix, and its search left nothing.
    argv, _, _ = run.build_command(jobs["demo-final"], "mini", data=str(data), jobs=jobs)
    assert argv[3] == f"--output_dir={tmp_path / 'runs' / 'ENAS' / 'demo-final-mini'}"
    assert not any(a.startswith("--child_fixed_arc") for a in argv)
    with pytest.raises(NasreproError, match="DATASET=MNIST: make demo-search knows CIFAR10, "
                                            "CIFAR100"):
        run.build_command(jobs["demo-search"], "mini", data=str(data), dataset="MNIST")
    bad = SEARCH_AND_FINAL.replace("job: demo-search, file", "job: nope, file")
    with pytest.raises(ConfigError, match="arc_from names unknown job 'nope'"):
        load_jobs(write(tmp_path, "bad.yaml", bad), write(tmp_path, "p.yaml", "{}"))


def test_main_keeps_its_options_after_the_job_and_passes_what_follows_the_separator(capsys):
    assert run.main(["enas-search", "--profile", "smoke", "--dry-run", "--",
                     "--child_out_filters=6", "--profile=x"]) == 0
    command = capsys.readouterr().out
    assert "--output_dir=" in command and "enas-search-smoke" in command
    assert command.rstrip().endswith("--child_out_filters=6 --profile=x")


def test_processes_set_nproc_under_mini_and_smoke_only_and_the_environment_wins(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("NASREPRO_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("NPROC", raising=False)
    data = tmp_path / "imagenet"
    data.mkdir()
    text = READY_JOB.replace("      output_flag: --output_dir\n",
                             "      output_flag: --output_dir\n      processes: 2\n", 1)
    jobs = load_jobs(write(tmp_path, "jobs.yaml", text), write(tmp_path, "p.yaml", "{}"))
    job = next(j for j in jobs.values() if j.processes)
    for profile, expected in (("mini", "2"), ("smoke", "2"), ("paper", None)):
        _, _, env = run.build_command(job, profile, data=str(data))
        assert env.get("NPROC") == expected, profile
    monkeypatch.setenv("NPROC", "3")
    _, _, env = run.build_command(job, "mini", data=str(data))
    assert env["NPROC"] == "3"
    repo_jobs = load_jobs()
    assert repo_jobs["naov2-imagenet"].processes == 2


def test_a_test_job_works_in_the_training_jobs_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_RUNS", str(tmp_path / "runs"))
    text = READY_JOB + """
    demo-test:
      system: NAO-V2
      summary: tests demo-final's checkpoint
      status: ready
      cwd: NAO-V2
      command: [bash, test_demo.sh]
      data: cifar10
      data_flag: --data
      output_flag: --output_dir
      run_dir_of: demo-final
"""
    jobs = load_jobs(write(tmp_path, "jobs.yaml", text), write(tmp_path, "profiles.yaml", "{}"))
    argv, _, env = run.build_command(jobs["demo-test"], "smoke", jobs=jobs)
    assert argv[3] == f"--output_dir={tmp_path / 'runs' / 'NAO-V2' / 'demo-final-smoke'}"
    assert env["NASREPRO_JOB"] == "demo-test"
    with pytest.raises(ConfigError, match="run_dir_of names unknown job 'nope'"):
        load_jobs(write(tmp_path, "bad.yaml", text.replace("run_dir_of: demo-final",
                                                            "run_dir_of: nope")),
                  write(tmp_path, "profiles.yaml", "{}"))
