# Sourced by scripts/*: create .venv when missing and install the project (editable) with what we need.
# Re-installs only when pyproject.toml changed since the last install, so a second run starts at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.carnet-installed
want="$(sha256sum pyproject.toml | cut -c1-16)-${CARNET_EXTRAS:-dev}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${CARNET_EXTRAS:-dev}]"
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
