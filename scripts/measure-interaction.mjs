// Measures, in headless Chromium against the built site, how long a
// parameter change takes to re-simulate and redraw each scenario at its
// defaults: main-thread work from the input event until the frame that
// shows the new numbers has been painted.
// A benchmark for the notes, not a test:  node scripts/measure-interaction.mjs
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serve } from "../tests/site/server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = await import(path.join(root, ".tools/node_modules/playwright-core/index.mjs"));
const scenarios = JSON.parse(execFileSync("cargo", ["run", "-q", "--bin", "prodsim", "--", "list", "--json"], { cwd: root, encoding: "utf8" }));
const repeats = Number(process.env.REPEATS || 100);
// DIST=<dir> measures another build (to compare two builds back to back).
const server = await serve(path.resolve(root, process.env.DIST || "dist"), "/");
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };

// The machine's own speed while it measures: this VM runs the same work
// up to 1.6 times slower from one minute to the next, so figures from
// different minutes compare only beside this. A fixed job (connection-pool
// for 10 s with a cold pool, 46 401 events: its default run until session
// 20, so figures from before compare too), timed 30 times natively before
// and after the series: its p50 and p95 in ms.
const reference = () => {
  const times = [];
  for (let i = 0; i < 30; i++) {
    const out = execFileSync(path.join(root, "target/release/prodsim"), ["run", "connection-pool", "--duration", "10", "--set", "warm_pool=false"], { encoding: "utf8" });
    times.push(Number(out.match(/events in ([\d.]+) ms/)?.[1]));
  }
  return `reference job p50 ${pct(times, 0.5).toFixed(1)} ms, p95 ${pct(times, 0.95).toFixed(1)} ms`;
};
execFileSync("cargo", ["build", "-q", "--release", "--bin", "prodsim"], { cwd: root });
console.log(`before: ${reference()}`);
console.log(`scenario (what changes)         p50 ms   p95 ms   max ms   run p50 ms   events/run   (${repeats} changes each)`);
// ONLY=<id> measures one scenario.
for (const { id } of scenarios.filter((s) => !process.env.ONLY || s.id === process.env.ONLY)) {
  // VIEW_HEIGHT=4000 puts every chart on screen, so that every redraw
  // counts (charts off screen are redrawn once the page is idle).
  const page = await browser.newPage({ viewport: { width: Number(process.env.VIEW_WIDTH || 1280), height: Number(process.env.VIEW_HEIGHT || 720) } });
  await page.goto(`${base}?s=${id}`);
  await page.waitForFunction(() => /events in/.test(document.querySelector("[data-testid=sim-stats]")?.textContent ?? ""), null, { timeout: 60000 });
  // The whole series runs inside the page, so no DevTools traffic from
  // this script competes with the page for the machine's cores.
  const measured = await page.evaluate(async (repeats) => {
    const stats = document.querySelector("[data-testid=sim-stats]");
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    const change = (input, value) => new Promise((resolve) => {
      // data-run counts finished runs: it changes even when the text does not.
      const before = stats.dataset.run;
      const t0 = performance.now();
      // Main-thread work from the input to the new result on screen. A zero
      // timeout runs after the effects the result triggers (charts, diagram,
      // summary); then the next frame's style, layout, paint and canvas
      // raster are added: from its animation frame to a timeout posted
      // there, which runs once that frame is done. The wait for the frame
      // (vsync) is idle time and is left out. Had the browser rendered a
      // frame before the first timeout, that work falls in the first span.
      const done = () => setTimeout(() => {
        const landed = performance.now() - t0;
        requestAnimationFrame(() => {
          const frame = performance.now();
          setTimeout(() => resolve(landed + performance.now() - frame), 0);
        });
      }, 0);
      new MutationObserver((_, obs) => { if (stats.dataset.run !== before) { obs.disconnect(); done(); } })
        .observe(stats, { attributes: true, attributeFilter: ["data-run"] });
      input.value = String(value);
      input.dispatchEvent(new Event("change"));
    });
    // Two kinds of change: a new seed, and the first slider's number moved
    // one step away from its default and back.
    const seed = document.querySelector("#seed");
    const slider = document.querySelector(".control[data-param] input.num");
    const home = Number(slider.value), step = Number(slider.step) || 1;
    const away = home + step <= Number(slider.max) ? home + step : home - step;
    const series = async (input, valueAt) => {
      const times = [], runs = [];
      for (let i = 0; i < repeats; i++) {
        // A person changes a value every so often, not back to back.
        await pause(100);
        times.push(await change(input, valueAt(i)));
        // The page's own "N events in X ms": submit to result, before redrawing.
        runs.push(Number(stats.textContent.match(/in ([\d.]+) ms/)?.[1]));
      }
      return { times, runs, events: stats.textContent };
    };
    return {
      seed: await series(seed, (i) => 1000 + i),
      slider: { name: slider.getAttribute("aria-label"), ...await series(slider, (i) => (i % 2 ? home : away)) },
    };
  }, repeats);
  for (const [kind, { times, runs, events }] of Object.entries(measured)) {
    if (process.env.VERBOSE) console.log([...times].sort((a, b) => a - b).map((t) => t.toFixed(1)).join(" "));
    const label = `${id} (${kind})`;
    console.log(`${label.padEnd(30)} ${pct(times, 0.5).toFixed(1).padStart(6)} ${pct(times, 0.95).toFixed(1).padStart(8)} ${Math.max(...times).toFixed(1).padStart(8)} ${pct(runs, 0.5).toFixed(1).padStart(12)}   ${events.split(" events")[0]}`);
  }
  await page.close();
}
await browser.close();
server.close();
console.log(`after: ${reference()}`);
