// The built site (dist/) served on 127.0.0.1 under a sub-path and driven in
// Debian's headless Chromium: what a visitor actually gets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { serve } from "./server.mjs";
import { root, artifacts, cli, start, ran } from "./harness.mjs";

const scenarios = cli("list", "--json").map((s) => s.id);

let site, browser, base;
before(async () => {
  site = await start();
  ({ browser, base } = site);
});
after(async () => {
  await site?.stop();
});

/** A fresh page that records console errors and uncaught exceptions. */
async function visit(query, viewport = { width: 1400, height: 1000 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(base + query);
  return { page, errors };
}



test("the catalogue lists every registered scenario without console errors", async () => {
  const { page, errors } = await visit("");
  await page.waitForSelector(".card");
  const ids = await page.$$eval(".card", (cards) => cards.map((c) => c.dataset.scenario));
  assert.deepEqual([...ids].sort(), [...scenarios].sort());
  await page.screenshot({ path: path.join(artifacts, "site-catalogue.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("every scenario page runs in a worker and draws its charts", async () => {
  for (const id of scenarios) {
    const { page, errors } = await visit(`?s=${id}`);
    await ran(page);
    // The first run's time includes starting the simulator, and says so.
    const stats = page.locator("[data-testid=sim-stats]");
    assert.match(await stats.textContent(), /events in [\d.]+ ms, starting the simulator included$/, id);
    // Charts off screen are drawn once the page is idle: wait until every
    // canvas has ink (the check below says which one stayed blank).
    await page.waitForFunction(() => [...document.querySelectorAll("canvas")].every((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 4; i < d.length; i += 4 * 97) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
      return false;
    }), null, { timeout: 5000 }).catch(() => {});
    // Charts are drawn: each canvas has many pixels unlike its corner.
    const inked = await page.$$eval("canvas", (canvases) => canvases.map((c) => {
      const ctx = c.getContext("2d");
      const { data } = ctx.getImageData(0, 0, c.width, c.height);
      const bg = data.slice(0, 4).join();
      let differing = 0;
      for (let i = 0; i < data.length; i += 4) if (data.slice(i, i + 4).join() !== bg) differing++;
      return differing / (c.width * c.height);
    }));
    assert.ok(inked.length > 0, `${id}: no charts`);
    for (const f of inked) assert.ok(f > 0.01, `${id}: a chart is blank (${f})`);
    assert.ok(page.workers().length >= 1, `${id}: the simulation did not use a worker`);
    assert.deepEqual(errors, [], `${id}: console errors`);
    if (id === "rate-limiting") await page.screenshot({ path: path.join(artifacts, "site-rate-limiting.png"), fullPage: true });
    // Later runs find it started: their time is the run's own.
    const before = await stats.getAttribute("data-run");
    await page.fill("#seed", "7");
    await page.dispatchEvent("#seed", "change");
    await page.waitForFunction((b) => document.querySelector("[data-testid=sim-stats]").dataset.run !== b, before, { timeout: 30000 });
    assert.match(await stats.textContent(), /events in [\d.]+ ms$/, id);
    await page.close();
  }
});

test("a shared URL restores its parameters, seed and compare variant", async () => {
  // `seed=03` is written back as `seed=3`: proof the page rewrote the URL.
  const query = "?s=connection-pool&pool_size=7&seed=03&cmp=1&cmp.pooling=false";
  const { page, errors } = await visit(query);
  await ran(page);
  assert.equal(await page.inputValue("[data-param=pool_size] input[type=number]"), "7");
  assert.equal(await page.inputValue("#seed"), "3");
  assert.equal(await page.locator("svg.diagram").count(), 2);
  await page.waitForFunction(() => location.search.includes("seed=3"));
  const search = await page.evaluate(() => location.search);
  for (const part of ["pool_size=7", "seed=3", "cmp=1", "cmp.pooling=false"]) assert.ok(search.includes(part), search);
  // Reload from the rewritten URL: the same numbers come back.
  const before = await page.locator("table.summary").innerText();
  await page.reload();
  await ran(page);
  assert.equal(await page.locator("table.summary").innerText(), before);
  await page.screenshot({ path: path.join(artifacts, "site-compare.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a diagram redrawn in place is the same as a fresh drawing, and keeps the nodes that did not change", async () => {
  // The page redraws a diagram by changing only what differs from the
  // drawing before (window.prodsimMorph). Whatever it starts from (the
  // other variant's diagram, the same one at another moment, nothing), the
  // result must equal a fresh parse of the new markup.
  const { page, errors } = await visit("?s=cascading-failures&cmp.timeout_ms=500&cmp.breaker=true");
  await ran(page);
  const a0 = await page.locator(".diagram-wrap >> nth=0 >> div").innerHTML();
  const b0 = await page.locator(".diagram-wrap >> nth=1 >> div").innerHTML();
  await page.click("text=Step");
  await page.waitForFunction((a) => document.querySelector(".diagram-wrap div").innerHTML !== a, a0);
  const a1 = await page.locator(".diagram-wrap >> nth=0 >> div").innerHTML();
  const result = await page.evaluate(([drawings]) => {
    const fresh = (html) => { const t = document.createElement("template"); t.innerHTML = html; const d = document.createElement("div"); d.append(t.content); return d.innerHTML; };
    const wrong = [];
    for (const from of [...drawings, ""]) for (const to of drawings) {
      const el = document.createElement("div");
      el.innerHTML = from;
      window.prodsimMorph(el, to);
      if (el.innerHTML !== fresh(to)) wrong.push([from.slice(0, 40), to.slice(0, 40)]);
    }
    // Same structure, other numbers: the svg element itself stays.
    const el = document.createElement("div");
    el.innerHTML = drawings[0];
    const svg = el.querySelector("svg");
    window.prodsimMorph(el, drawings[2]);
    return { wrong, kept: el.querySelector("svg") === svg };
  }, [[a0, b0, a1]]);
  assert.deepEqual(result.wrong, []);
  assert.ok(a0 !== a1, "the step changed the diagram");
  assert.ok(result.kept, "the svg element was replaced although only numbers changed");
  assert.deepEqual(errors, []);
  await page.close();
});

test("charts follow the system's colour scheme when it changes while the page is open", async () => {
  const { page, errors } = await visit("?s=connection-pool", { width: 1400, height: 2400 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.reload();
  await ran(page);
  // The chart's background: its top-left pixel.
  const corner = () => page.evaluate(() => Array.from(document.querySelector(".chart canvas").getContext("2d").getImageData(1, 1, 1, 1).data.slice(0, 3)));
  const light = (rgb) => rgb.every((c) => c > 200);
  await page.waitForFunction(() => document.querySelector(".chart canvas").width > 0);
  assert.ok(!light(await corner()), `dark page, dark chart: ${await corner()}`);
  await page.emulateMedia({ colorScheme: "light" });
  await page.waitForFunction(() => {
    const d = document.querySelector(".chart canvas").getContext("2d").getImageData(1, 1, 1, 1).data;
    return d[0] > 200 && d[1] > 200 && d[2] > 200;
  }, null, { timeout: 5000 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForFunction(() => document.querySelector(".chart canvas").getContext("2d").getImageData(1, 1, 1, 1).data[0] < 100, null, { timeout: 5000 });
  assert.deepEqual(errors.filter((e) => !/getImageData/.test(e)), []);
  await page.close();
});

test("a bad URL value is clamped and the page says so", async () => {
  const { page } = await visit("?s=rate-limiting&limit=5000&window_ms=-3");
  await ran(page);
  const notices = await page.locator(".notices").innerText();
  assert.match(notices, /limit: 5000 is outside 1–1000 requests; using 1000/);
  assert.match(notices, /window_ms: -3 is outside 100–60000 ms; using 100/);
  await page.close();
});

test("two embedded widgets run inside sandboxed iframes and size themselves", async () => {
  const { page, errors } = await visit("embed-demo.html", { width: 1000, height: 3200 });
  const frames = page.locator("iframe");
  await page.waitForFunction(() => document.querySelectorAll("iframe").length === 2);
  assert.equal(await frames.count(), 2);
  for (let i = 0; i < 2; i++) {
    assert.equal(await frames.nth(i).getAttribute("sandbox"), "allow-scripts allow-popups");
    const frame = page.frameLocator("iframe").nth(i);
    await frame.locator("[data-testid=sim-stats]").filter({ hasText: "events in" }).waitFor({ timeout: 30000 });
    assert.equal(await frame.locator(".controls").count(), 0, "chrome-free");
  }
  // embed.js sized the frames to their content (the default is 480 px).
  await page.waitForFunction(() => [...document.querySelectorAll("iframe")].every((f) => f.style.height !== "480px"));
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(artifacts, "site-embed.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("the scenario page reads on a phone", async () => {
  const { page } = await visit("?s=memory-leaks", { width: 390, height: 844 });
  await ran(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page is ${overflow}px wider than the phone`);
  await page.screenshot({ path: path.join(artifacts, "site-phone.png"), fullPage: false });
  await page.close();
});

test("exports: the summary JSON matches the native CLI, the CSV holds every series, charts save as PNG", async () => {
  const { page, errors } = await visit("?s=connection-pool&pool_size=7&seed=3&d=5&cmp=1&cmp.pooling=false");
  await ran(page);
  const saved = async (button) => {
    const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
    return { name: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
  };

  const json = await saved(page.getByRole("button", { name: "JSON", exact: true }));
  assert.equal(json.name, "connection-pool-summary.json");
  const summary = JSON.parse(json.bytes.toString("utf8"));
  assert.equal(summary.scenario, "connection-pool");
  assert.equal(summary.seed, 3);
  assert.equal(summary.duration_s, 5);
  assert.equal(summary.params.pool_size, 7);
  assert.equal(summary.compare.params.pooling, false);
  // The same runs natively, by the CLI: the same summary, bar the CLI's
  // wall-clock time (one routine writes both).
  const native = (sets) => cli("run", "connection-pool", "--seed", "3", "--duration", "5", ...sets.flatMap((s) => ["--set", s]), "--json");
  const { wall_ms, ...main } = native(["pool_size=7"]);
  assert.ok(wall_ms >= 0);
  const { compare, ...page_main } = summary;
  assert.deepEqual(page_main, main);
  const { wall_ms: _, scenario: __, seed: ___, ...variant } = native(["pool_size=7", "pooling=false"]);
  assert.deepEqual(compare, variant);

  // One click, two files (A and B): collect both.
  const downloads = [];
  const collect = (d) => downloads.push(d);
  page.on("download", collect);
  await page.getByRole("button", { name: "CSV", exact: true }).click();
  for (let waited = 0; downloads.length < 2 && waited < 10000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  page.off("download", collect);
  const [a, b] = downloads;
  assert.ok(a && b, `${downloads.length} CSV downloads`);
  const names = [a.suggestedFilename(), b.suggestedFilename()].sort();
  assert.deepEqual(names, ["connection-pool-series-a.csv", "connection-pool-series-b.csv"]);
  const lines = fs.readFileSync(await a.path(), "utf8").trim().split("\n");
  const header = lines[0].split(",");
  assert.equal(header[0], "time_s");
  for (const key of ["throughput_rps", "latency_p99_ms", "db.pool_in_use"]) assert.ok(header.includes(key), lines[0]);
  // At most 300 points per series (the engine's bound), one row each.
  assert.ok(lines.length > 100 && lines.length <= 301, `${lines.length} lines`);
  assert.ok(lines.slice(1).every((l) => l.split(",").length === header.length));

  const png = await saved(page.locator("figure.chart").first().getByRole("button", { name: "PNG" }));
  assert.equal(png.name, "connection-pool-chart-1.png");
  assert.deepEqual([...png.bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.deepEqual(errors, []);
  await page.close();
});

test("an embed whose host sends no CORS headers says so instead of staying blank", async () => {
  const bare = await serve(path.join(root, "dist"), "/prodsim/", { cors: false });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  await page.goto(`http://127.0.0.1:${bare.address().port}/prodsim/embed-demo.html`);
  await page.waitForFunction(() => document.querySelectorAll("iframe").length === 2);
  const frame = page.frameLocator("iframe").first();
  await frame.locator("#boot.error").waitFor({ timeout: 30000 });
  assert.match(await frame.locator("#boot").innerText(), /Access-Control-Allow-Origin/);
  await page.screenshot({ path: path.join(artifacts, "site-embed-no-cors.png") });
  await page.close();
  bare.close();
});

test("the catalogue names its parts, links whole cards and finds lesson words", async () => {
  const { page, errors } = await visit("");
  await page.waitForSelector(".card");
  assert.equal(await page.title(), "Prodsim: see how backend systems behave in production");
  assert.ok((await page.locator("section.part h2").allInnerTexts()).includes("Part 1: data processing and performance"));
  // A click anywhere on the card opens the scenario.
  await page.locator(".card[data-scenario=rate-limiting] p").click();
  await ran(page);
  assert.match(await page.title(), /^Rate limiting.* · Prodsim$/);
  await page.goBack();
  await page.waitForSelector(".card");
  // "idempotent" is in no card, only in a lesson: found once the lessons load.
  await page.fill("input[type=search]", "idempotent");
  await page.waitForFunction(() => document.querySelectorAll(".card").length > 0, null, { timeout: 15000 });
  const ids = await page.$$eval(".card", (cards) => cards.map((c) => c.dataset.scenario));
  assert.ok(ids.includes("bulk-upload"), ids.join());
  assert.deepEqual(errors, []);
  await page.close();
});

test("predict, then run: the page runs the change the question asks about and shows the guess beside the result", async () => {
  const withMetric = scenarios
    .map((id) => cli("show", id, "--json"))
    .filter((s) => s.lesson.predict.metric);
  assert.ok(withMetric.length > 0, "no scenario names a metric to guess");
  for (const spec of withMetric) {
    const { page, errors } = await visit(`?s=${spec.id}`);
    await ran(page);
    const before = await page.locator("[data-testid=sim-stats]").getAttribute("data-run");
    await page.locator(".predict input").fill("7");
    await page.getByRole("button", { name: "Run it and show the answer" }).click();
    await page.locator("[data-testid=predict-outcome]").waitFor({ timeout: 60000 });
    assert.notEqual(await page.locator("[data-testid=sim-stats]").getAttribute("data-run"), before);
    const outcome = await page.locator("[data-testid=predict-outcome]").innerText();
    assert.match(outcome, /You guessed 7/);
    // The result quoted is the one the summary table shows for that metric.
    const cell = (await page.locator(`tr[data-metric=${spec.lesson.predict.metric}] td`).first().innerText()).trim();
    assert.ok(outcome.includes(`the run gives ${cell}`), `${spec.id}: "${outcome}" vs "${cell}"`);
    // And the page now shows the asked-about variant: its URL holds the change.
    const parts = Object.entries(spec.lesson.predict.set ?? {})
      .filter(([k, v]) => String(spec.params.find((p) => p.key === k)?.default) !== String(v))
      .map(([k, v]) => `${k}=${v}`);
    await page.waitForFunction((want) => want.every((p) => location.search.includes(p)), parts, { timeout: 5000 });
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test("a page from an older build whose data is gone says to reload instead of running on other data", async () => {
  // A copy of the site whose data directory has another build's stamp:
  // what a browser that kept an old page meets after a new deploy.
  const dir = fs.mkdtempSync(path.join(root, "artifacts", "old-page-"));
  fs.cpSync(path.join(root, "dist"), dir, { recursive: true });
  const [stamp] = fs.readdirSync(path.join(dir, "data"));
  fs.renameSync(path.join(dir, "data", stamp), path.join(dir, "data", "000000000000"));
  const server = await serve(dir, "/");
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.goto(`http://127.0.0.1:${server.address().port}/?s=rate-limiting`);
    await page.getByText("older version of the site; reload it").first().waitFor({ timeout: 30000 });
    await page.close();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("before the simulator loads, a page on its defaults shows the default run computed ahead", async () => {
  // A copy of the site without the simulator's wasm: the page can only show
  // the scenario's default run from data/<id>.first.json, and must, with
  // every summary row filled in and the same numbers the native CLI gives
  // (metrics are exact in the file; only chart points are rounded).
  const dir = fs.mkdtempSync(path.join(root, "artifacts", "no-sim-"));
  fs.cpSync(path.join(root, "dist"), dir, { recursive: true });
  fs.rmSync(path.join(dir, "prodsim-sim_bg.wasm"));
  const server = await serve(dir, "/");
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${server.address().port}/?s=rate-limiting`);
    await page.locator("[data-testid=sim-stats]").filter({ hasText: "computed ahead" }).waitFor({ timeout: 30000 });
    const cliRun = cli("run", "rate-limiting", "--json");
    for (const key of ["allowed", "burst_allowed", "max_in_any_window"]) {
      const shown = await page.locator(`tr[data-metric=${key}] td`).first().innerText();
      assert.equal(shown.replace(/[^\d]/g, ""), String(cliRun.metrics[key]), key);
    }
    const charts = await page.locator("canvas").count();
    assert.ok(charts > 0);
    await page.close();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a worker that never answers is given up on after 15 s and the page runs the job itself", async () => {
  // The page fetches the scenario's data file before it mounts; the worker
  // fetches it again for its first job. Leaving that second request
  // unanswered stalls the worker with no error event (as a start that
  // never finishes does): the page must notice and run the job on its own
  // simulator, not wait for ever.
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  let requests = 0;
  await context.route(/\/data\/[^/]+\/rate-limiting\.json(\?|$)/, (route) => {
    requests++;
    if (requests === 1) route.continue();
    // Later requests get no answer at all.
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const t0 = Date.now();
  await page.goto(`${base}?s=rate-limiting`);
  await ran(page, 60000);
  const waited = Date.now() - t0;
  assert.ok(requests >= 2, `the worker's fetch was not held back (${requests} request)`);
  assert.ok(waited >= 15000, `the run came after ${waited} ms, before the worker could be given up on`);
  assert.deepEqual(errors, []);
  await context.close();
});
