# Sourced by the paper folders' shell scripts, with the modules the script needs:
#     source "$(dirname "${BASH_SOURCE[0]}")/../nasrepro/shell/project_python.sh" torch
# Sets PYTHON, the interpreter the script runs: $PYTHON if set, else the repository's .venv
# interpreter when it exists, else `python`. Stops the script with one line, no traceback, when
# that interpreter cannot import the project and those modules. (Entry points run by hand with
# `python x.py` choose the same way: nasrepro/project_python.py.)

nasrepro_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$nasrepro_root/.venv/bin/python" ]; then
    PYTHON="$nasrepro_root/.venv/bin/python"
  else
    PYTHON=python
  fi
fi

require_python() {
  local missing
  missing="$("$PYTHON" -c 'import importlib.util as u, sys
print(" ".join(m for m in sys.argv[1:] if u.find_spec(m) is None))' nasrepro numpy yaml "$@" \
    2> /dev/null)" || missing="(no interpreter '$PYTHON')"
  if [ -n "$missing" ]; then
    echo "$(basename "$0"): $PYTHON cannot import $missing; run \`make setup\` in" \
      "$nasrepro_root (it creates .venv, which the scripts use), or set PYTHON to an" \
      "interpreter that has them" >&2
    exit 2
  fi
}

require_python "$@"
