#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint.
#
# Uses `actionlint` from PATH when there is one; otherwise builds the pinned
# version from the Go module proxy into a per-user cache directory and reuses
# it on later runs (actionlint v1.7.12 needs Go >= 1.25, or an older Go that
# is allowed to fetch a newer toolchain). When shellcheck is installed,
# actionlint also checks every `run:` script with it; without it that check
# is skipped. Any finding makes the script exit non-zero.
#
# Usage: bash scripts/actionlint.sh [extra actionlint flags]
# Env:   ACTIONLINT_VERSION  override the pinned version (e.g. v1.7.12)
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
CACHE_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/l2tp-ipsec/bin"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

installed_version() {
  # `actionlint -version` prints the version (without the leading v) first.
  "$1" -version 2>/dev/null | head -n 1 | sed 's/^v//'
}

if command -v actionlint >/dev/null 2>&1; then
  actionlint="$(command -v actionlint)"
else
  actionlint="$CACHE_BIN/actionlint"
  if [[ ! -x "$actionlint" || "$(installed_version "$actionlint")" != "${ACTIONLINT_VERSION#v}" ]]; then
    if ! command -v go >/dev/null 2>&1; then
      echo "actionlint.sh: actionlint is not on PATH and Go is not installed to build it" >&2
      exit 1
    fi
    echo "actionlint.sh: installing actionlint $ACTIONLINT_VERSION into $CACHE_BIN" >&2
    mkdir -p "$CACHE_BIN"
    GOBIN="$CACHE_BIN" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  fi
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml)
shopt -u nullglob
if [[ ${#workflows[@]} -eq 0 ]]; then
  echo "actionlint.sh: no workflow files under .github/workflows/" >&2
  exit 1
fi

echo "actionlint.sh: $("$actionlint" -version | head -n 1) on ${workflows[*]}" >&2
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint.sh: shellcheck not found, run: scripts are not shellchecked" >&2
fi
exec "$actionlint" "$@" "${workflows[@]}"
