#!/usr/bin/env bash
# The VS Code extension's whole test job (CI), from any directory:
#   1. npm ci + npm test (the extension's unit tests) + npm run package -> dist/promptlsp.vsix
#   2. scripts/install-code-server.sh (chromium, Node 24, code-server; cached, ~5 min cold)
#   3. the end-to-end suite in e2e/: the .vsix in a real VS Code (code-server) driven through
#      headless Chromium, against the scripted stub model (screenshots in .ci-artifacts/vscode-e2e)
# Needs the Python install first (bash scripts/install.sh: the e2e uses .venv/bin/python).
# Exits non-zero on any failure; every process it started is killed on the way out.
#
# Environment: PROMPTLSP_E2E_CACHE (code-server cache, default ~/.cache/promptlsp-e2e),
# PROMPTLSP_E2E_ARTIFACTS (screenshots and failure logs), PROMPTLSP_E2E_KEEP=1 (keep each
# test's temporary dirs), PROMPTLSP_E2E_ONLY=regex (run only the e2e tests whose name matches).
set -euo pipefail

ext="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$ext/.." && pwd)"
# shellcheck source=e2e-paths.sh
source "$ext/scripts/e2e-paths.sh"

python="$repo/.venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "test.sh: $python is missing; run 'bash scripts/install.sh' in $repo first" >&2
  exit 1
fi

run_id="test-$$-$(date +%s)"
# short: the e2e sessions live below it, and their unix socket paths must stay under 108 bytes
state="$(mktemp -d /tmp/pe2e.XXXXXX)"
export PROMPTLSP_E2E_RUN_ID="$run_id"          # inherited by every process started below
export PROMPTLSP_E2E_PGID_FILE="$state/pgids"  # the e2e suite appends each process group it starts
export PROMPTLSP_E2E_TMP="$state"              # each e2e session's temporary dirs go below it
export PROMPTLSP_E2E_PYTHON="$python"
export PROMPTLSP_E2E_ARTIFACTS="${PROMPTLSP_E2E_ARTIFACTS:-$repo/.ci-artifacts/vscode-e2e}"
export E2E_CODE_SERVER_BIN E2E_NODE24_DIR E2E_INSTALL_DIR
export LITELLM_LOCAL_MODEL_COST_MAP=True
: >"$PROMPTLSP_E2E_PGID_FILE"

started=$SECONDS
say() { printf '\n[test.sh +%ss] %s\n' "$((SECONDS - started))" "$*"; }

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# Kill what this run started: the recorded process groups (TERM, then KILL), then any process
# still carrying this run's marker in its environment (bash builtins only, so the sweep does not
# find itself).
cleanup() {
  local status=$? pgid pid var deadline
  trap - EXIT INT TERM HUP
  mapfile -t groups < <(sort -u "$PROMPTLSP_E2E_PGID_FILE" 2>/dev/null)
  for pgid in "${groups[@]}"; do
    [[ "$pgid" =~ ^[0-9]+$ ]] && group_alive "$pgid" && kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  for pgid in "${groups[@]}"; do
    [[ "$pgid" =~ ^[0-9]+$ ]] || continue
    while group_alive "$pgid" && ((SECONDS < deadline)); do sleep 0.2; done
    group_alive "$pgid" && kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    while IFS= read -r -d '' var; do
      if [[ "$var" == "PROMPTLSP_E2E_RUN_ID=$run_id" ]]; then
        echo "test.sh: killing leftover process $pid" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
    done 2>/dev/null <"$dir/environ" || true
  done
  if [[ -n "${PROMPTLSP_E2E_KEEP:-}" ]]; then
    rm -f "$PROMPTLSP_E2E_PGID_FILE"
    echo "test.sh: kept the e2e sessions' temporary dirs in $state" >&2
  else
    rm -rf "$state"
  fi
  if ((status == 0)); then
    say "all passed in $((SECONDS - started)) s"
  else
    say "FAILED (exit $status) after $((SECONDS - started)) s; artifacts: $PROMPTLSP_E2E_ARTIFACTS"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Run a step in a process group of its own (recorded for cleanup) and wait for it; a failing
# step fails the script (set -e on the wait status).
step() {
  local name="$1" pid
  shift
  say "$name: $*"
  setsid "$@" &
  pid=$!
  echo "$pid" >>"$PROMPTLSP_E2E_PGID_FILE"
  wait "$pid"
}

cd "$ext"
step "extension: npm ci" npm ci --no-audit --no-fund
step "extension: unit tests" npm test
rm -f dist/promptlsp.vsix
step "extension: package" npm run package
[[ -s dist/promptlsp.vsix ]] || { echo "test.sh: npm run package made no dist/promptlsp.vsix" >&2; exit 1; }
export PROMPTLSP_E2E_VSIX="$ext/dist/promptlsp.vsix"

step "code-server" bash "$ext/scripts/install-code-server.sh"

cd "$ext/e2e"
step "e2e: npm ci" npm ci --no-audit --no-fund
rm -rf "$PROMPTLSP_E2E_ARTIFACTS"
mkdir -p "$PROMPTLSP_E2E_ARTIFACTS"
e2e_args=(--test --test-concurrency=1 --test-reporter=spec)
[[ -n "${PROMPTLSP_E2E_ONLY:-}" ]] && e2e_args+=(--test-name-pattern="$PROMPTLSP_E2E_ONLY")
# A hard ceiling on the suite (each test also has its own timeout).
step "e2e: suite" timeout --kill-after=30 1500 node "${e2e_args[@]}" tests/*.test.mjs
say "screenshots: $(find "$PROMPTLSP_E2E_ARTIFACTS" -name '*.png' | wc -l) in $PROMPTLSP_E2E_ARTIFACTS"
