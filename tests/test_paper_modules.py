"""The one loader of paper-folder modules: same-named files of two folders never shadow each
other, a folder's modules load once, sys.modules is left as it was, and every paper folder keeps
the rule the loader needs (siblings imported at module level)."""
import ast
import sys

import pytest

from nasrepro.environment import REPO_ROOT
from nasrepro.errors import ConfigError
from nasrepro.paper_modules import load_paper_file, load_paper_module
from nasrepro.systems import PAPER_SYSTEMS


def write_folder(root, name, files: dict):
    folder = root / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


def test_same_named_siblings_of_two_folders_stay_apart(tmp_path):
    a = write_folder(tmp_path, "sys-a", {"model.py": "WIDTH = 3\n",
                                         "checks.py": "import model\nWIDTH = model.WIDTH\n"})
    b = write_folder(tmp_path, "sys-b", {"model.py": "WIDTH = 5\n",
                                         "checks.py": "from model import WIDTH\n"})
    before = dict(sys.modules)
    assert load_paper_module(a, "checks").WIDTH == 3
    assert load_paper_module(b, "checks").WIDTH == 5
    assert load_paper_file(a / "model.py").WIDTH == 3
    # Nothing of either folder is left where a third folder's `import model` would find it.
    assert "model" not in sys.modules and "checks" not in sys.modules
    assert str(a) not in sys.path and str(b) not in sys.path
    assert set(sys.modules) - set(before) == set()


def test_a_folder_loads_each_module_once_and_its_siblings_share_them(tmp_path):
    folder = write_folder(tmp_path, "sys-c", {"model.py": "TOKEN = object()\n",
                                              "train.py": "import model\n",
                                              "bench.py": "import model\n"})
    train = load_paper_module(folder, "train")
    assert load_paper_module(folder, "bench").model is train.model
    assert load_paper_module(folder, "model") is train.model
    assert load_paper_module(folder, "train") is train


def test_other_folders_modules_step_aside_and_come_back(tmp_path, monkeypatch):
    folder = write_folder(tmp_path, "sys-d", {"model.py": "WHO = 'd'\n",
                                              "checks.py": "import model\nWHO = model.WHO\n"})
    outsider = type(sys)("model")
    outsider.__file__ = str(tmp_path / "elsewhere" / "model.py")
    monkeypatch.setitem(sys.modules, "model", outsider)
    assert load_paper_module(folder, "checks").WHO == "d"
    assert sys.modules["model"] is outsider


def test_packages_inside_a_folder_load_by_dotted_name():
    trainer = load_paper_module("ENAS", "src.cifar10.data_utils")
    assert trainer.DATASET_NAMES == {"CIFAR10": "cifar10", "CIFAR100": "cifar100"}
    assert "src" not in sys.modules


def test_bad_folders_and_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such paper folder"):
        load_paper_module(tmp_path / "missing", "model")
    with pytest.raises(ConfigError, match="no such Python file"):
        load_paper_file(tmp_path / "missing.py")


def _paper_files():
    for system in PAPER_SYSTEMS:
        yield from sorted((REPO_ROOT / system).rglob("*.py"))


def _sibling_names(file):
    """What `import X` finds next to `file` (and, for ENAS's src/ package, at its folder)."""
    folders = {file.parent} | {p for p in file.parents if (p / "src" / "__init__.py").is_file()}
    names = set()
    for folder in folders:
        names |= {p.stem for p in folder.glob("*.py")}
        names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


@pytest.mark.parametrize("file", list(_paper_files()), ids=lambda f: str(f.relative_to(REPO_ROOT)))
def test_paper_files_import_their_siblings_at_module_level(file):
    # The loader takes a folder off sys.path once a module is loaded: an import of a sibling
    # inside a function would then find nothing, or another folder's file of the same name.
    siblings = _sibling_names(file)
    tree = ast.parse(file.read_text())
    late = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                late += [a.name for a in node.names if a.name.split(".")[0] in siblings]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] in siblings:
                late.append(node.module)
    assert late == [], f"{file.name} imports {late} inside a function"
