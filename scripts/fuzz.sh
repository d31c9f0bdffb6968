#!/bin/sh
# Bounded fuzzing of the MIDI reader: the hypothesis fuzz tests with more examples, then the
# atheris (libFuzzer) harness for a fixed time. Prints the number of cases each one ran.
#   scripts/fuzz.sh [SECONDS] [EXAMPLES]      defaults: 60 s of atheris, 2000 hypothesis examples
# atheris is optional (pip install atheris); without it only the hypothesis part runs.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SECONDS_ATHERIS=${1:-60}
EXAMPLES=${2:-2000}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "== hypothesis: GROOVEBRIDGE_FUZZ_EXAMPLES=$EXAMPLES"
GROOVEBRIDGE_FUZZ_EXAMPLES=$EXAMPLES nice -n 19 "$PY" -m pytest tests/hardening/test_fuzz_midi.py \
    -q -p no:cacheprovider --hypothesis-show-statistics >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
grep -E "^tests/|passing|passed" "$LOG"
HYP=$(grep -oE "[0-9]+ passing" "$LOG" | awk '{s += $1} END {print s + 0}')

if "$PY" -c "import atheris" 2>/dev/null; then
    echo "== atheris: ${SECONDS_ATHERIS} s"
    nice -n 19 "$PY" fuzz/atheris_midi.py --seconds "$SECONDS_ATHERIS" >"$LOG" 2>&1 || { tail -40 "$LOG"; exit 1; }
    grep -E "^Done|peak_rss|new_units_added" "$LOG"
    ATH=$(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$LOG")
else
    echo "== atheris not installed: skipped (pip install atheris)"
    ATH=0
fi
echo "fuzz cases run: hypothesis $HYP, atheris ${ATH:-0}; no failures"
