// Measures, in headless Chromium against the built site, how long a
// parameter change takes to re-simulate and redraw each scenario at its
// defaults: from the input event to the frame after the new numbers land.
// A benchmark for the notes, not a test:  node scripts/measure-interaction.mjs
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serve } from "../tests/site/server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = await import(path.join(root, ".tools/node_modules/playwright-core/index.mjs"));
const scenarios = JSON.parse(execFileSync("cargo", ["run", "-q", "--bin", "prodsim", "--", "list", "--json"], { cwd: root, encoding: "utf8" }));
const repeats = Number(process.env.REPEATS || 30);
const server = await serve(path.join(root, "dist"), "/");
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };

console.log(`scenario             p50 ms   p95 ms   events/run   (${repeats} changes of the seed field each)`);
for (const { id } of scenarios) {
  const page = await browser.newPage();
  await page.goto(`${base}?s=${id}`);
  await page.waitForFunction(() => /events in/.test(document.querySelector("[data-testid=sim-stats]")?.textContent ?? ""), null, { timeout: 60000 });
  const times = [];
  let events = "";
  for (let i = 0; i < repeats; i++) {
    const ms = await page.evaluate((seed) => new Promise((resolve) => {
      const stats = document.querySelector("[data-testid=sim-stats]");
      // data-run counts finished runs: it changes even when the text does not.
      const before = stats.dataset.run;
      const input = document.querySelector("#seed");
      const t0 = performance.now();
      // A zero timeout runs after the effects the new result triggers (the
      // chart and diagram redraws), so this is input-to-redrawn.
      const done = () => setTimeout(() => resolve(performance.now() - t0), 0);
      new MutationObserver((_, obs) => { if (stats.dataset.run !== before) { obs.disconnect(); done(); } })
        .observe(stats, { attributes: true, attributeFilter: ["data-run"] });
      input.value = String(seed);
      input.dispatchEvent(new Event("change"));
    }), 1000 + i);
    times.push(ms);
    events = await page.locator("[data-testid=sim-stats]").innerText();
  }
  console.log(`${id.padEnd(20)} ${pct(times, 0.5).toFixed(1).padStart(6)} ${pct(times, 0.95).toFixed(1).padStart(8)}   ${events.split(" events")[0]}`);
  await page.close();
}
await browser.close();
server.close();
