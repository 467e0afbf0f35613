#!/usr/bin/env bash
# Prints the gzipped size of what a visitor downloads, and fails when what
# comes before a scenario is interactive is over the budget: 300 KB, decimal
# like every unit in Prodsim (300 000 bytes), unless SITE_BUDGET_BYTES says
# otherwise.
#
# Before interactive: the page's wasm and JS, the CSS, and for the scenario
# its data file plus its default run computed ahead (<id>.first.json), which
# the page shows until the simulator answers (the largest pair counts).
# After: the simulator (prodsim-sim.js and its wasm, started in a Web
# Worker as the page mounts) and the lesson; a scenario's own files (data,
# default run, lesson) must stay within 15 KB.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${SITE_BUDGET_BYTES:-300000}
gz() { gzip -9 -c "$1" | wc -c; }
shopt -s nullglob
[ -f dist/prodsim-web_bg.wasm ] || { echo "site-size: dist/ has no page wasm; build first" >&2; exit 1; }
before=0
printf '%-34s %10s %10s\n' file bytes gzip
for f in dist/prodsim-web_bg.wasm dist/prodsim-web.js dist/*.css; do
  g=$(gz "$f"); before=$((before + g))
  printf '%-34s %10d %10d\n' "$(basename "$f")" "$(stat -c %s "$f")" "$g"
done
largest=0; largest_name=none; own_max=0; own_name=none
data=$(ls -d dist/data/*/ | head -1)
for f in "$data"*.json; do
  case "$f" in *.lesson.json|*.first.json) continue ;; esac
  id=$(basename "$f" .json)
  first="$data$id.first.json"; lesson="$data$id.lesson.json"
  [ -f "$first" ] || { echo "site-size: $first is missing" >&2; exit 1; }
  pair=$(( $(gz "$f") + $(gz "$first") ))
  own=$pair
  [ -f "$lesson" ] && own=$((own + $(gz "$lesson")))
  if [ "$pair" -gt "$largest" ]; then largest=$pair; largest_name=$id; fi
  if [ "$own" -gt "$own_max" ]; then own_max=$own; own_name=$id; fi
done
before=$((before + largest))
printf '%-34s %10s %10d  (data + default run of the largest)\n' "data/$largest_name.{json,first.json}" "" "$largest"
printf '%-34s %10s %10d  (%d.%d KB; budget %d bytes)\n' "before interactive" "" "$before" $((before / 1000)) $(((before % 1000) / 100)) "$budget"
after=0
for f in dist/prodsim-sim_bg.wasm dist/prodsim-sim.js; do
  [ -f "$f" ] || { echo "site-size: $f is missing" >&2; exit 1; }
  g=$(gz "$f"); after=$((after + g))
  printf '%-34s %10d %10d  (the simulator, after)\n' "$(basename "$f")" "$(stat -c %s "$f")" "$g"
done
printf '%-34s %10s %10d  (data, default run and lesson; limit 15000)\n' "$own_name (own files)" "" "$own_max"
printf '%-34s %10s %10d\n' "everything for one scenario" "" $((before + after + own_max - largest))
if [ "$own_max" -gt 15000 ]; then
  echo "site-size: scenario $own_name downloads $own_max bytes of its own, over 15 000" >&2
  exit 1
fi
if [ "$before" -gt "$budget" ]; then
  echo "site-size: over budget by $((before - budget)) bytes" >&2
  exit 1
fi
