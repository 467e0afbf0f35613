// Screenshots of every scenario page (and the catalogue) from the built
// site, for looking at what changed:  node scripts/screenshots.mjs [query...]
// Writes PNGs to artifacts/shots/. Needs scripts/build-site.sh first.
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { serve } from "../tests/site/server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = await import(path.join(root, ".tools/node_modules/playwright-core/index.mjs"));
const out = path.join(root, "artifacts/shots");
fs.mkdirSync(out, { recursive: true });
const ids = JSON.parse(execFileSync("cargo", ["run", "-q", "--bin", "prodsim", "--", "list", "--json"], { cwd: root, encoding: "utf8" })).map((s) => s.id);
const queries = process.argv.slice(2).length ? process.argv.slice(2) : ["", ...ids.map((id) => `?s=${id}`)];
const width = Number(process.env.WIDTH ?? 1400);
const scale = Number(process.env.SCALE ?? 1);
const dark = process.env.DARK === "1";
const server = await serve(path.join(root, "dist"), "/prodsim/");
const base = `http://127.0.0.1:${server.address().port}/prodsim/`;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
for (const q of queries) {
  const page = await browser.newPage({ viewport: { width, height: 1000 }, deviceScaleFactor: scale, colorScheme: dark ? "dark" : "light" });
  page.on("pageerror", (e) => console.error(q, e.message));
  await page.goto(base + q);
  if (q.includes("s=")) {
    await page.waitForFunction(() => /events in/.test(document.querySelector("[data-testid=sim-stats]")?.textContent ?? ""), null, { timeout: 30000 });
    await page.waitForTimeout(300);
  } else {
    await page.waitForSelector(".card");
  }
  const name = (q.replace(/[^a-z0-9]+/gi, "_") || "catalogue") + `-${width}${dark ? "-dark" : ""}.png`;
  await page.screenshot({ path: path.join(out, name), fullPage: true });
  console.log(path.join(out, name));
  await page.close();
}
await browser.close();
server.close();
