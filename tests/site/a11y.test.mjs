// Accessibility in a real browser: axe-core (npm, injected into the pages
// playwright-core opens on Debian's chromium) on the catalogue, a scenario
// page, compare mode and an embed, in light and dark themes, must find no
// serious or critical violation; and a scenario page works by keyboard
// alone, with a visible focus ring.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { root, start, ran } from "./harness.mjs";

const AXE = path.join(root, ".tools/node_modules/axe-core/axe.min.js");

let site;
before(async () => {
  site = await start();
});
after(async () => {
  await site?.stop();
});

const PAGES = [
  ["the catalogue", ""],
  ["a scenario page", "?s=cascading-failures"],
  ["compare mode", "?s=connection-pool&cmp.pooling=false"],
  ["an embed", "?s=rate-limiting&embed=1"],
];

for (const scheme of ["light", "dark"]) {
  test(`axe finds no serious or critical violation (${scheme} theme)`, async () => {
    const found = [];
    for (const [what, query] of PAGES) {
      const page = await site.browser.newPage({ viewport: { width: 1400, height: 1000 }, colorScheme: scheme });
      await page.goto(site.base + query);
      if (query) await ran(page);
      else await page.waitForSelector(".card");
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations
          .filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
      });
      for (const v of violations) found.push(`${what}: ${v}`);
      await page.close();
    }
    assert.deepEqual(found, []);
  });
}

test("a scenario page works by keyboard alone, with a visible focus ring", async () => {
  const page = await site.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(site.base + "?s=rate-limiting");
  await ran(page);
  const runs = async () => page.locator("[data-testid=sim-stats]").getAttribute("data-run");
  // Tab until the first slider's number box has focus.
  let found = false;
  for (let i = 0; i < 80 && !found; i++) {
    await page.keyboard.press("Tab");
    found = await page.evaluate(() => document.activeElement?.matches(".control[data-param=limit] input.num") ?? false);
  }
  assert.ok(found, "Tab never reached the limit's number box");
  // The focused control shows a ring: an outline or a box shadow.
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  });
  assert.ok(ring, "the focused box shows no focus ring");
  const before = await runs();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("30");
  await page.keyboard.press("Tab");
  await page.waitForFunction((b) => document.querySelector("[data-testid=sim-stats]").dataset.run !== b, before);
  assert.equal(await page.inputValue(".control[data-param=limit] input.num"), "30");
  // Back to the algorithm select (before it in the page) and change it
  // with the arrow keys.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Shift+Tab");
    if (await page.evaluate(() => document.activeElement?.matches(".control[data-param=algorithm] select") ?? false)) break;
  }
  assert.ok(await page.evaluate(() => document.activeElement?.matches(".control[data-param=algorithm] select")), "Shift+Tab never reached the algorithm select");
  const beforeSelect = await runs();
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction((b) => document.querySelector("[data-testid=sim-stats]").dataset.run !== b, beforeSelect, { timeout: 10000 });
  assert.equal(await page.inputValue(".control[data-param=algorithm] select"), "sliding_log");
  await page.close();
});

test("every chart has a text alternative: its series in words, and the CSV", async () => {
  const page = await site.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(site.base + "?s=cascading-failures");
  await ran(page);
  const charts = await page.$$eval("canvas[role=img]", (cs) => cs.map((c) => ({
    title: c.getAttribute("aria-label"),
    words: document.getElementById(c.getAttribute("aria-describedby") ?? "")?.textContent ?? "",
  })));
  assert.ok(charts.length >= 6, `${charts.length} charts`);
  for (const { title, words } of charts) {
    assert.ok(words.startsWith(`${title}. `), `${title}: ${words}`);
    // Each series' sentence carries numbers: a range or a constant value.
    assert.match(words, /: [-\d.,]+ (to|[a-z%])/, `${title}: ${words}`);
  }
  assert.equal(await page.getByRole("button", { name: "CSV" }).count(), 1);
  await page.close();
});
