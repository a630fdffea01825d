#!/usr/bin/env bash
# The four pipeline checks (altdata, feature, leak, coinglass) over one window, as the ALT gates run them:
#   scripts/run_pipeline_checks.sh --window 600 [--symbol BTCUSDT] [--source live|sim] [--verbose]
# Prints each check's summary line (with --verbose every measurement), then PIPELINE OVERALL: PASS|FAIL.
# Exit: 0 all passed; 1 a check failed; 2 a check could not run (e.g. database unreachable: its line says
# how to fix it). Each check runs in its own process with the python on PATH, so one crash stops nothing.
set -euo pipefail

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

window=""
extra=()
verbose=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --window) window="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --window=*) window="${1#*=}"; shift ;;
    --symbol) extra+=(--symbol "${2:-}"); shift 2 || { usage >&2; exit 2; } ;;
    --symbol=*) extra+=(--symbol "${1#*=}"); shift ;;
    --source) extra+=(--source "${2:-}"); shift 2 || { usage >&2; exit 2; } ;;
    --source=*) extra+=(--source "${1#*=}"); shift ;;
    -v|--verbose) verbose=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if ! [[ "$window" =~ ^[0-9]+$ ]] || (( window < 1 )); then
  echo "--window N (seconds, >= 1) is required" >&2
  usage >&2
  exit 2
fi

# The package is importable from any working directory (settings and .env are still read from it).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${repo}${PYTHONPATH:+:${PYTHONPATH}}"

errlog="$(mktemp)"
trap 'rm -f "$errlog"' EXIT
worst=0
failed=()
for check in altdata feature leak coinglass; do
  rc=0
  out="$(python -m "cqt.checks.${check}" --window "$window" ${extra[@]+"${extra[@]}"} 2>"$errlog")" || rc=$?
  summary="$(printf '%s\n' "$out" | grep -E '^[A-Z]+: (PASS|FAIL|ERROR)' | tail -n 1 || true)"
  if [[ -z "$summary" ]]; then
    # no summary line: the check crashed; show why and count it as "could not run"
    summary="${check^^}: ERROR (exit ${rc}, no result; stderr follows)"
    rc=2
    cat "$errlog" >&2
  fi
  if (( verbose )); then
    printf '%s\n' "$out" | grep -vxF "$summary" || true
  fi
  printf '%s\n' "$summary"
  (( rc > worst )) && worst=$rc
  (( rc != 0 )) && failed+=("${check} $(cut -d' ' -f2 <<<"$summary")")
done

if (( worst == 0 )); then
  echo "PIPELINE OVERALL: PASS"
else
  ( IFS=','; echo "PIPELINE OVERALL: FAIL (${failed[*]})" )
fi
exit "$worst"
