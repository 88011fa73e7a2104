"""read_script_flags: the configuration the shell scripts really pass, including the forms the
NAO-V2 multi-process launcher uses (defaults, arrays, values computed at run time)."""
import pytest

from nasrepro.errors import ConfigError
from nasrepro.environment import REPO_ROOT
from nasrepro.shell_flags import read_script_flags, script_argv


def test_variables_arrays_defaults_and_computed_values(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text(
        '#!/bin/bash\n'
        'N=${N:-4}\n'
        'B=$((128 * N))\n'
        'arc="1 2"\n'
        'arc="$arc 3"\n'
        'ARGS=(--arch="$arc" --n=$N \\\n'
        '      --flag --batch=$B "$@")\n'
        'python train.py --first=1 "${ARGS[@]}"\n'
        'python -m torch.distributed.run --nproc=$N train.py "${ARGS[@]}" --last=x "$@"\n')
    flags = read_script_flags(script)
    assert flags == {"nproc": "4", "arch": "1 2 3", "n": "4", "flag": True,
                     "batch": "<computed: $((128 * N))>", "last": "x"}


def test_the_naov2_launchers_pass_the_same_network_flags():
    keys = ("arch", "channels", "use_aux_head")
    one = read_script_flags(REPO_ROOT / "NAO-V2" / "train_NAONet_V2_imagenet.sh")
    four = read_script_flags(REPO_ROOT / "NAO-V2" / "train_NAONet_V2_imagenet_4cards.sh")
    assert {k: one[k] for k in keys} == {k: four[k] for k in keys}
    assert (one["batch_size"], one["lr"]) == ("128", "0.1")
    assert four["nproc_per_node"] == "4"


def test_a_script_without_python_is_an_error(tmp_path):
    script = tmp_path / "x.sh"
    script.write_text("echo hi\n")
    with pytest.raises(ConfigError, match="no python command found"):
        read_script_flags(script)


def test_script_argv_is_what_the_py_file_gets_without_launcher_or_computed_values(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text(
        '#!/bin/bash\n'
        'source "$(dirname "${BASH_SOURCE[0]}")/env.sh" torch\n'
        'N=${N:-4}\n'
        'B=$((128 * N))\n'
        'ARGS=(--arch="1 2" --batch=$B --flag "$@")\n'
        '"$PYTHON" -m torch.distributed.run --nproc=$N train.py "${ARGS[@]}" --last=x "$@"\n')
    assert script_argv(script) == ["--arch=1 2", "--flag", "--last=x"]
    assert read_script_flags(script)["nproc"] == "4"
    four = script_argv(REPO_ROOT / "NAO-V2" / "train_NAONet_V2_imagenet_4cards.sh")
    assert "--channels=52" in four and "--use_aux_head" in four
    assert not any(a.startswith(("--batch_size", "--lr=", "--nproc")) for a in four)
