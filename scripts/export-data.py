#!/usr/bin/env python3
"""Writes every scenarios/*.toml as JSON into a directory (the site's data/).

The site fetches a scenario's data file when a page needs it, instead of
carrying all of them in its wasm. Trunk runs this after each build (see
Trunk.toml) into its staging directory. The JSON is the same conversion
build.rs makes for the embedded copies (TOML values as JSON values).

Each scenario gets two files: <id>.json, everything but the lesson, which
a page needs before its first run; and <id>.lesson.json, the lesson
table alone, which the page fetches once it is interactive.

They go into data/<stamp>/, the build stamp (`prodsim stamp`, a hash of the
sources and data files), and index.html asks for the page's own script,
wasm and CSS with ?v=<stamp>: a returning visitor whose browser kept an
older build never runs its code against this build's data.
"""
import glob
import json
import os
import subprocess
import sys
import tomllib

import re

# "1 000" must not break across lines: the thousands space becomes a
# no-break space in every text the page shows.
THOUSANDS = re.compile(r"(\d) (?=\d{3}(?!\d))")


def unbreakable(value):
    if isinstance(value, str):
        return THOUSANDS.sub("\\1\u00a0", value)
    if isinstance(value, list):
        return [unbreakable(v) for v in value]
    if isinstance(value, dict):
        return {k: unbreakable(v) for k, v in value.items()}
    return value


root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
staging = None if len(sys.argv) > 1 else os.environ["TRUNK_STAGING_DIR"]
stamp = subprocess.run(
    ["cargo", "run", "-q", "--bin", "prodsim", "--", "stamp"],
    cwd=root,
    check=True,
    capture_output=True,
    text=True,
).stdout.strip()
out = sys.argv[1] if staging is None else os.path.join(staging, "data", stamp)
os.makedirs(out, exist_ok=True)
if staging is not None:
    index = os.path.join(staging, "index.html")
    with open(index, encoding="utf-8") as f:
        html = f.read()
    # Every reference, quoted or not (the HTML is minified).
    html = re.sub(r"(prodsim-web\.js|prodsim-web_bg\.wasm|style\.css)(?![?\w.])", r"\1?v=" + stamp, html)
    with open(index, "w", encoding="utf-8") as f:
        f.write(html)
for path in sorted(glob.glob(os.path.join(root, "scenarios", "*.toml"))):
    with open(path, "rb") as f:
        data = unbreakable(tomllib.load(f))
    name = os.path.splitext(os.path.basename(path))[0]
    lesson = data.pop("lesson")
    for suffix, content in ((".json", data), (".lesson.json", lesson)):
        with open(os.path.join(out, name + suffix), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, separators=(",", ":"))

# Each scenario's default run, which the page shows before its simulator
# (a Web Worker) has loaded: <id>.first.json, from the native CLI.
subprocess.run(
    ["cargo", "run", "-q", "--bin", "prodsim", "--", "first-runs", out],
    cwd=root,
    check=True,
    stdout=subprocess.DEVNULL,
)
