#!/usr/bin/env bash
# Prints the gzipped size of every wasm, js and css file in dist/, plus the
# largest scenario data file (a page fetches one before it runs), and fails
# when the total is over the budget: 300 KB, decimal like every unit in
# Prodsim (300 000 bytes), unless SITE_BUDGET_BYTES says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${SITE_BUDGET_BYTES:-300000}
total=0
shopt -s nullglob
files=(dist/*.wasm dist/*.js dist/*.css)
[ ${#files[@]} -gt 0 ] || { echo "site-size: dist/ has no wasm/js/css; build first" >&2; exit 1; }
printf '%-32s %10s %10s\n' file bytes gzip
for f in "${files[@]}"; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total=$((total + gz))
  printf '%-32s %10d %10d\n' "$(basename "$f")" "$raw" "$gz"
done
# A scenario page also fetches its own data file before it is interactive:
# count the largest one. Its lesson (<id>.lesson.json) comes after; a
# scenario's own download (data + lesson) must stay within 15 KB.
largest=0; largest_name=none; own_max=0; own_name=none
for f in dist/data/*.json; do
  case "$f" in *.lesson.json) continue ;; esac
  gz=$(gzip -9 -c "$f" | wc -c)
  if [ "$gz" -gt "$largest" ]; then largest=$gz; largest_name=$(basename "$f"); fi
  lesson="${f%.json}.lesson.json"
  own=$gz
  [ -f "$lesson" ] && own=$((gz + $(gzip -9 -c "$lesson" | wc -c)))
  if [ "$own" -gt "$own_max" ]; then own_max=$own; own_name=$(basename "$f" .json); fi
done
printf '%-32s %10s %10d  (the largest data + lesson, after interactive; limit 15000)\n' "$own_name" "" "$own_max"
if [ "$own_max" -gt 15000 ]; then
  echo "site-size: scenario $own_name downloads $own_max bytes of its own, over 15 000" >&2
  exit 1
fi
total=$((total + largest))
printf '%-32s %10s %10d  (the largest data file)\n' "data/$largest_name" "" "$largest"
printf '%-32s %10s %10d  (%d.%d KB; budget %d bytes)\n' total "" "$total" $((total / 1000)) $(((total % 1000) / 100)) "$budget"
if [ "$total" -gt "$budget" ]; then
  echo "site-size: over budget by $((total - budget)) bytes" >&2
  exit 1
fi
