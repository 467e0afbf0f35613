// Hostile URLs against the built site: generated query strings with huge,
// negative, NaN and infinite numbers, exponents, empty values, repeated and
// unknown keys, very long values, Unicode and control characters, markup
// and script, malformed percent-encoding and bad fault schedules. Each page
// must load, name in a notice every parameter it clamped or dropped, log no
// console error, and never run injected markup (a canary would fire).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cli, start } from "./harness.mjs";

const scenarios = cli("list", "--json").map((s) => s.id);
const specs = Object.fromEntries(scenarios.map((id) => [id, cli("show", id, "--json")]));

// A small seeded generator (mulberry32), so the same 240 URLs every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Markup that would set window.__pwned if the page ever ran it.
const CANARIES = [
  "<img src=x onerror=window.__pwned=1>",
  "<script>window.__pwned=1</script>",
  "\"><svg onload=window.__pwned=1>",
  "javascript:window.__pwned=1",
];

// Values no parameter accepts, whatever its kind: each must be named in a
// notice. (Numbers out of range are clamped, garbage is dropped.)
const NOT_A_NUMBER = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "abc", "", "0x1G", "１２", "1,5", "+-3", "9".repeat(400), "\u202e5", "%ZZ", "%", "💥", ...CANARIES];
const NOT_AN_OPTION = ["", "NONE", "fixed window", "x".repeat(3000), "%E0%A4%A", "\u0000", "\u0007bell", ...CANARIES];
const NOT_A_FLAG = ["maybe", "", "2", "TRUE!", "yes please", ...CANARIES];
const BAD_FAULTS = ["nosuch:down:1:1", "down", "::::", "api:melt:1:1", "provider:slow0:1:1", "users:traffic0:0:5", "provider:down:-5:10", "provider:down:1:0", ",,x", ...CANARIES];

/** Out of range for a slider: beyond either end, by a lot or a little. */
function outOfRange(p, r) {
  const span = Math.max(p.max - p.min, 1);
  return [p.max + span * 1000, p.min - span, p.max + p.step, -1e15, 1e300][Math.floor(r() * 5)];
}

const pick = (xs, r) => xs[Math.floor(r() * xs.length)];

/** One hostile query: which keys must appear in the notices. */
function hostile(i) {
  const r = rng(1000 + i);
  const id = pick(scenarios, r);
  const spec = specs[id];
  const parts = [`s=${id}`];
  const named = [];
  for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
    const roll = r();
    if (roll < 0.15) {
      // An unknown key, sometimes carrying markup in its name.
      const key = pick(["bogus", "__proto__", "constructor", "a".repeat(500), "x<b>y", "cmp.nope"], r);
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(pick(CANARIES, r))}`);
      named.push(key.startsWith("cmp.") ? key.slice(4) : key.length > 100 ? key.slice(0, 40) : key);
      continue;
    }
    const p = pick(spec.params, r);
    let value;
    if (p.kind === "slider") value = r() < 0.5 ? String(outOfRange(p, r)) : pick(NOT_A_NUMBER, r);
    else if (p.kind === "select") value = pick(NOT_AN_OPTION, r);
    else if (p.kind === "toggle") value = pick(NOT_A_FLAG, r);
    else value = pick(BAD_FAULTS, r);
    // Percent-encoding mostly right, sometimes raw, sometimes broken.
    const enc = r() < 0.8 ? encodeURIComponent(value) : value.replace(/[&#=]/g, "");
    const prefix = r() < 0.15 && spec.params.length ? "cmp." : "";
    parts.push(`${prefix}${p.key}=${enc}`);
    // Repeated keys: the last one counts, both may be named.
    if (r() < 0.1) parts.push(`${prefix}${p.key}=${enc}`);
    named.push(p.key);
  }
  if (r() < 0.3) parts.push(`seed=${encodeURIComponent(pick(["-1", "1e99", "NaN", "", "18446744073709551616", "0x2A", CANARIES[0]], r))}`);
  if (r() < 0.2) parts.push(`t=${encodeURIComponent(pick(["-5", "NaN", "1e400", ""], r))}`);
  return { query: "?" + parts.join("&"), id, named };
}

let site;
before(async () => {
  site = await start();
});
after(async () => {
  await site?.stop();
});

test("240 hostile URLs load, name what they corrected and never run injected markup", async () => {
  const page = await site.browser.newPage({ viewport: { width: 1200, height: 900 } });
  let errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (d) => { errors.push(`a dialog opened: ${d.message()}`); d.dismiss(); });
  let checked = 0;
  for (let i = 0; i < 240; i++) {
    const { query, named } = hostile(i);
    errors = [];
    await page.goto(site.base + query);
    // The page comes up: a scenario that ran, or a notice in its place (or
    // a run that failed, reported below with its message).
    await page.waitForFunction(
      () => /events in/.test(document.querySelector("[data-testid=sim-stats]")?.textContent ?? "") || document.querySelector(".card, p.error[role=alert]"),
      null, { timeout: 30000 }).catch(async (e) => {
      const stats = await page.locator("[data-testid=sim-stats]").innerText().catch(() => "(none)");
      throw new Error(`${query}: no run after 30 s (status line: ${stats}; console: ${JSON.stringify(errors)}): ${e.message}`);
    });
    const failed = await page.locator("p.error[role=alert]").allInnerTexts();
    assert.deepEqual(failed, [], `${query}: the run failed`);
    const notices = await page.locator(".notices").innerText().catch(() => "");
    if (process.env.HOSTILE_SHOW) console.log(query, JSON.stringify(named), "=>", notices.replace(/\s+/g, " ").slice(0, 300));
    for (const key of named) {
      assert.ok(notices.includes(key), `${query}\nno notice names '${key}': ${notices}`);
    }
    assert.equal(await page.evaluate(() => window.__pwned), undefined, `${query}: injected markup ran`);
    assert.equal(await page.locator("[onerror], [onload], img[src=x]").count(), 0, `${query}: markup reached the page`);
    assert.deepEqual(errors, [], `${query}: console errors`);
    checked++;
  }
  assert.equal(checked, 240);
  await page.close();
});
