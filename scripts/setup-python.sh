#!/usr/bin/env bash
# Creates the Python environment used to regenerate the test fixtures:
# a virtual environment at .venv (gitignored) with the pinned packages of
# scripts/requirements-fixtures.txt. Safe to run again: it does nothing when
# the environment already matches the requirements file.
#
#   scripts/setup-python.sh && .venv/bin/python scripts/gen_fixtures.py
set -euo pipefail
cd "$(dirname "$0")/.."

req=scripts/requirements-fixtures.txt
venv=.venv
stamp="$venv/.fixtures-requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup-python: $venv is up to date with $req"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-python: creating $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --quiet --upgrade pip
echo "setup-python: installing $req (torch is large; this takes a few minutes)"
"$venv/bin/python" -m pip install --quiet -r "$req"
echo "$want" >"$stamp"
"$venv/bin/python" -c 'import torch, transformers, peft; print("setup-python: torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'
