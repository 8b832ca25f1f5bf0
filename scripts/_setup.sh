# Sourced by scripts/serve and scripts/test: create .venv and install houqin when pyproject.toml changed.
# Usage: SETUP_EXTRAS=dev . scripts/_setup.sh   (a variable: a sourced script sees its caller's arguments)
set -euo pipefail
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "houqin needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
extras=${SETUP_EXTRAS:-}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv …"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)${extras:+-$extras}"
if [ ! -f "$stamp" ]; then
  echo "installing houqin${extras:+ with [$extras]} into .venv (first run takes a minute) …"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
