# Shared by the scripts: make sure .venv exists and holds the project with the given extras.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
ensure_venv() {
  local extras="$1" python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "scim-server needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 2
  fi
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  # One stamp per set of extras, named after pyproject.toml's hash: a changed pyproject reinstalls.
  local name="${extras:-[]}"
  local stamp="$VENV/.installed-$name-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "scim-server: installing into $VENV (once per change of pyproject.toml)..." >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras"
    rm -f "$VENV/.installed-$name-"* && touch "$stamp"
  fi
}
