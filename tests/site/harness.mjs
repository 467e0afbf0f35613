// What every built-site test needs: the repository's paths, the native CLI,
// the site served on 127.0.0.1 under a sub-path, and Debian's headless
// Chromium driven by playwright-core.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const artifacts = path.join(root, "artifacts");
const { chromium } = await import(path.join(root, ".tools/node_modules/playwright-core/index.mjs"));

/** The native CLI's JSON answer to `args`. */
export const cli = (...args) => JSON.parse(execFileSync("cargo", ["run", "-q", "--bin", "prodsim", "--", ...args], { cwd: root, encoding: "utf8" }));

/** Serves dist/ under /prodsim/ and starts Chromium; `stop()` ends both. */
export async function start() {
  fs.mkdirSync(artifacts, { recursive: true });
  const server = await serve(path.join(root, "dist"), "/prodsim/");
  const base = `http://127.0.0.1:${server.address().port}/prodsim/`;
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  return { server, browser, base, stop: async () => { await browser.close(); server.close(); } };
}

/** Resolves once the page has shown a finished run. */
export const ran = (page, timeout = 30000) => page.waitForFunction(
  () => /events in/.test(document.querySelector("[data-testid=sim-stats]")?.textContent ?? ""),
  null, { timeout });
