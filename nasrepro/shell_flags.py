"""The flag values a paper's shell script passes to its Python entry point.

Static checks and tests read the scripts themselves, so the configuration they count is the
one the scripts really run. Understands what the original scripts use: shell variables
assigned in steps (`arc="0 1"`, `arc="$arc 2 3"`), arrays (`ARGS=(--a=1 --b)` used as
`"${ARGS[@]}"`), line continuations, `--name=value`, `--name value`, bare boolean `--name`, and
`"$@"` (ignored). The command is `python`, `"$PYTHON"` (the interpreter the scripts choose,
nasrepro/shell/project_python.sh) or `torchrun`, with the launcher's own flags before the .py
file."""
import re
import shlex
from pathlib import Path

from .errors import ConfigError

_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_ARRAY_USE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\[@\]\}$")
# $NAME, ${NAME} and ${NAME:-default} (the default when NAME is unset here).
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand(text: str, variables: dict) -> str:
    def value(m):
        found = variables.get(m.group(1) or m.group(3))
        if found is None:
            return m.group(2) or ""
        return " ".join(found) if isinstance(found, list) else found
    return _VAR.sub(value, text)


_PYTHON_COMMAND = re.compile(r"^(python[0-9.]*|torchrun|\$\{?PYTHON\}?)$")
_COMPUTED = "<computed: "
_REDIRECT = re.compile(r"^(\d?>.*|\||\|&|&&|;)$")


def read_script_flags(path) -> dict:
    """{flag name: value} of the last `python ...` command in `path`, launcher flags included
    (values are strings; a bare `--flag` gives True; a value the shell computes at run time is
    "<computed: ...>"). The last occurrence of a flag wins, as with argparse and absl."""
    return _flags(_command_words(path)[1:])


def script_argv(path) -> list:
    """The arguments the last `python ...` command of `path` gives its .py file, as a list to
    parse with that file's own parser: the launcher's flags, "$@" and the values the shell
    computes at run time (they have no fixed value) are left out."""
    words = _command_words(path)
    start = next((i + 1 for i, w in enumerate(words) if w.endswith(".py")), None)
    if start is None:
        raise ConfigError(f"{path}: the python command runs no .py file")
    return [w for w in words[start:] if _COMPUTED not in w]


def _command_words(path) -> list:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: script not found")
    joined = re.sub(r"\\\n", " ", path.read_text())
    variables, command = {}, None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match and match.group(2).startswith("(") and match.group(2).endswith(")"):
            variables[match.group(1)] = [_expand(w, variables)
                                         for w in shlex.split(match.group(2)[1:-1])]
            continue
        if match and "$(" in match.group(2):
            # Computed by the shell at run time ($((...)), $(...)): not known statically.
            variables[match.group(1)] = f"{_COMPUTED}{match.group(2)}>"
            continue
        if match and not line.startswith("export "):
            words = shlex.split(match.group(2)) or [""]
            variables[match.group(1)] = _expand(words[0], variables)
            continue
        words = shlex.split(line)
        if words and _PYTHON_COMMAND.match(Path(words[0]).name):
            command = words
    if command is None:
        raise ConfigError(f"{path}: no python command found")
    words = [command[0]]
    for word in command[1:]:
        if _REDIRECT.match(word):  # `2>&1 | tee -a log` (NAO's scripts): not the command's
            break
        array = _ARRAY_USE.match(word)
        if array:
            words += [w for w in variables.get(array.group(1), []) if w != "$@"]
        elif word != "$@":
            words.append(_expand(word, variables))
    return words


def _flags(words: list) -> dict:
    flags, i = {}, 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if eq:
                flags[name] = value
            elif i + 1 < len(words) and not words[i + 1].startswith("--"):
                flags[name] = words[i + 1]
                i += 1
            else:
                flags[name] = True
        i += 1
    return flags
