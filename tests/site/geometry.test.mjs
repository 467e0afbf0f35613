// What a visitor sees, measured on the rendered page: for every scenario,
// with its defaults, every preset and every slider at each end of its range,
// on a desktop and a phone, no two diagram boxes intersect, every text lies
// inside its box, no link label lies under a box, and each chart's bitmap
// matches its size on screen (crisp, not stretched), in light and dark.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { artifacts, cli, start, ran } from "./harness.mjs";

const specs = cli("list", "--json").map((s) => cli("show", s.id, "--json"));

/** Queries for one scenario: defaults, each preset, each slider at min and max. */
function queries(spec) {
  // Short runs: the layout depends on the values shown, not on run length.
  const d = Math.max(spec.duration_s.min, Math.min(spec.duration_s.default, 600));
  const base = `?s=${spec.id}&d=${d}`;
  const out = [{ name: "defaults", query: base }];
  for (const p of spec.presets) {
    const sets = Object.entries(p.values).map(([k, v]) => `&${k}=${v}`).join("");
    out.push({ name: `preset ${p.name}`, query: base + sets });
  }
  for (const p of spec.params.filter((p) => p.kind === "slider")) {
    out.push({ name: `${p.key}=min`, query: `${base}&${p.key}=${p.min}` });
    out.push({ name: `${p.key}=max`, query: `${base}&${p.key}=${p.max}` });
  }
  return out;
}

let site, browser, base;
before(async () => {
  site = await start();
  ({ browser, base } = site);
});
after(async () => {
  await site?.stop();
});

/** Every geometry fault on the page, as sentences (none is the goal). */
function faults() {
  const found = [];
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  const meet = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const [d, svg] of [...document.querySelectorAll("svg.diagram")].entries()) {
    const nodes = [...svg.querySelectorAll("g.node")].map((g) => ({
      id: g.dataset.node, box: g.querySelector("rect").getBoundingClientRect(), texts: [...g.querySelectorAll("text")],
    }));
    for (const [i, a] of nodes.entries()) {
      for (const b of nodes.slice(0, i)) if (meet(a.box, b.box)) found.push(`diagram ${d}: boxes ${a.id} and ${b.id} intersect`);
      for (const t of a.texts) {
        if (!inside(t.getBoundingClientRect(), a.box)) found.push(`diagram ${d}: "${t.textContent}" spills out of ${a.id}`);
      }
    }
    for (const label of svg.querySelectorAll("text.link-label")) {
      const r = label.getBoundingClientRect();
      for (const n of nodes) if (meet(r, n.box)) found.push(`diagram ${d}: link label "${label.textContent}" lies under ${n.id}`);
    }
    const frame = svg.parentElement.getBoundingClientRect();
    if (!inside(svg.getBoundingClientRect(), frame)) found.push(`diagram ${d}: wider than its panel`);
    // Legible: the smallest text on screen is at least 10 CSS px tall.
    const smallest = Math.min(...[...svg.querySelectorAll("text")].map((t) => t.getBoundingClientRect().height));
    if (smallest < 10) found.push(`diagram ${d}: text only ${smallest.toFixed(1)} px tall`);
  }
  for (const wrap of document.querySelectorAll(".summary-wrap")) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) found.push(`summary table ${wrap.scrollWidth} px wide in a ${wrap.clientWidth} px column`);
  }
  for (const c of document.querySelectorAll("figure.chart canvas")) {
    // The drawing area inside the border, in device pixels.
    const want = [Math.round(c.clientWidth * devicePixelRatio), Math.round(c.clientHeight * devicePixelRatio)];
    if (Math.abs(c.width - want[0]) > 1 || Math.abs(c.height - want[1]) > 1) {
      found.push(`chart ${c.getAttribute("aria-label")}: bitmap ${c.width}×${c.height} shown at ${want.join("×")} device px`);
    }
  }
  return found;
}

async function check(page, label) {
  try {
    await ran(page, 60000);
  } catch (e) {
    // Say which case never finished, and what the page showed instead.
    const stats = await page.locator("[data-testid=sim-stats]").textContent().catch(() => "?");
    const notes = await page.locator(".notices, .failure, [role=alert]").allInnerTexts().catch(() => []);
    throw new Error(`${label}: no run finished in 60 s (stats: ${stats}; notices: ${notes.join(" | ")})`);
  }
  // Charts redraw in the frame after the result lands.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const found = await page.evaluate(faults);
  assert.deepEqual(found, [], label);
}

for (const [width, height, scale] of [[1400, 1000, 1], [1920, 1080, 2], [390, 844, 3]]) {
  test(`every diagram fits and every chart is crisp at ${width} px, device pixel ratio ${scale}`, async () => {
    const errors = [];
    for (const spec of specs) {
      // A tab per scenario, as a visitor would open it: a hundred pages
      // loaded in one tab pile up wasm instances faster than the browser
      // reclaims them.
      const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: scale });
      page.on("pageerror", (e) => errors.push(e.message));
      // Every case on the desktop; defaults and presets on the others.
      const cases = queries(spec).filter((c) => width === 1400 || !c.name.includes("="));
      for (const c of cases) {
        await page.goto(base + c.query);
        await check(page, `${spec.id}, ${c.name} (${c.query})`);
      }
      if (width !== 1400) await page.screenshot({ path: path.join(artifacts, `geometry-${spec.id}-${width}.png`) });
      await page.close();
    }
    assert.deepEqual(errors, []);
  });
}

test("compare mode: both diagrams fit, in the dark scheme too", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, colorScheme: "dark" });
  for (const spec of specs) {
    const [a, b] = spec.presets;
    const sets = (p, prefix) => Object.entries(p.values).map(([k, v]) => `&${prefix}${k}=${v}`).join("");
    await page.goto(`${base}?s=${spec.id}&d=${Math.min(spec.duration_s.default, 600)}${sets(a, "")}&cmp=1${sets(a, "cmp.")}${sets(b, "cmp.")}`);
    await check(page, `${spec.id} comparing ${a.name} with ${b.name}`);
    assert.equal(await page.locator("svg.diagram").count(), 2);
  }
  await page.screenshot({ path: path.join(artifacts, "geometry-compare-dark.png"), fullPage: true });
  await page.close();
});
