// Drives the dashboard in Debian's Chromium (headless) with playwright-core, for the browser
// tests (`tests/agents/dashboard.rs`) and the dashboard benchmark (`scripts/bench-dashboard.sh`).
//
//   node tests/browser/dashboard.mjs SCENARIO    (the configuration is JSON in CAIRN_BROWSER)
//
// Scenarios: `deploy` (log in; a deploy turning resources green live; a failed resource's
// log; a diff of two versions; the graph), `compile` (a compile report's error), `scroll`
// (figures: the first rows of the resources page and the scroll to its end), `graph`
// (figures: a large graph's first paint and one repaint while dragged), `insecure` (no
// login on a server with --insecure-no-auth). A scenario
// that needs the test to act prints `READY <what>` and waits for a line on stdin. It exits 0
// when every check held, 1 with the reason otherwise. Screenshots go to `config.screenshots`.

import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const config = JSON.parse(process.env.CAIRN_BROWSER || "{}");
const scenario = process.argv[2];
const TIMEOUT = config.timeout_ms || 60000;

const stdin = createInterface({ input: process.stdin });
const lines = [];
let waiter = null;
stdin.on("line", (line) => { if (waiter) { const w = waiter; waiter = null; w(line); } else lines.push(line); });
function nextLine() {
  if (lines.length) return Promise.resolve(lines.shift());
  return new Promise((resolve) => { waiter = resolve; });
}
function ready(what) {
  process.stdout.write(`READY ${what}\n`);
  return nextLine();
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  if (!config.screenshots) return;
  mkdirSync(config.screenshots, { recursive: true });
  await page.screenshot({ path: join(config.screenshots, name), fullPage: false });
}

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "cairn-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // A refused request is logged by Chromium itself ("Failed to load resource"): the tests
  // make some on purpose (a wrong token); the page's own errors are what counts.
  page.on("console", (message) => { if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`); });
  return { context, page, problems, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

async function logIn(page, token) {
  await page.goto(config.url + "/");
  await page.waitForSelector("#login input[name=token]");
  await page.fill("#login input[name=token]", token);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#environments");
}

// Opens a page of the dashboard from the environments page, for a timed run; when it
// started.
async function openTimed(page, hash) {
  await page.goto(`${config.url}/#/`);
  await page.waitForSelector("#environments");
  const started = Date.now();
  await page.goto(`${config.url}/${hash}`);
  return started;
}

// ---------- scenarios ----------

async function deploy({ page, problems }) {
  const env = config.env;
  // Nothing without a token: the login form, and no environment listed.
  await page.goto(config.url + "/");
  await page.waitForSelector("#login input[name=token]");
  check((await page.$("#environments")) === null, "the environments were shown without a token");
  await shot(page, "01-login.png");
  await page.fill("#login input[name=token]", "cairn_not-a-token");
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#login [role=alert]")?.textContent.includes("unknown token"));
  await page.fill("#login input[name=token]", config.token);
  await page.click("#login button[type=submit]");
  await page.waitForSelector(`#environments a[href="#/env/${env}/resources"]`);
  await shot(page, "02-environments.png");

  // A deploy, live: the page is open before the agent starts, and is never reloaded.
  await page.click(`#environments a[href="#/env/${env}/resources"]`);
  await page.waitForSelector("#resources[data-complete=true]");
  await page.waitForSelector("#live:not(.off)");
  await page.evaluate(() => { window.__notReloaded = true; });
  let listed = 0;
  page.on("request", (request) => { if (/\/resources(\?|$)/.test(new URL(request.url()).pathname + new URL(request.url()).search)) listed++; });
  await ready("deploy");
  const expected = config.deployed;
  await page.waitForFunction((n) => document.querySelectorAll("#resources .row[data-state=deployed]").length === n, expected, { timeout: TIMEOUT });
  await page.waitForSelector("#resources .row[data-state=failed]");
  check(await page.evaluate(() => window.__notReloaded === true), "the page was reloaded");
  check(listed === 0, `the resources were listed again ${listed} times: the page did not update from the event stream`);
  const deployedCount = await page.textContent("#counts [data-count=deployed]");
  check(deployedCount.includes(String(expected)), `the count says ${deployedCount}, not ${expected} deployed`);
  await shot(page, "03-deploy-live.png");

  // The failed resource's log.
  const failed = await page.getAttribute("#resources .row[data-state=failed]", "data-id");
  check(failed === config.failed, `the failed resource is ${failed}, not ${config.failed}`);
  await page.click("#resources .row[data-state=failed] a.id");
  await page.waitForSelector("#logs .log[data-state=failed]");
  const message = await page.textContent("#logs .log[data-state=failed] .log-message");
  check(message.trim().length > 0 && message.includes(config.failure_text), `the failed log says ${JSON.stringify(message)}, not ${config.failure_text}`);
  check((await page.textContent("#resource-id")) === failed, "the page is not the failed resource's");
  await shot(page, "04-failed-resource.png");

  // A diff of two versions.
  await ready("second version");
  await page.click("nav.tabs a[data-tab=versions]");
  await page.waitForSelector("#versions");
  await page.selectOption("select[name=from]", "1");
  await page.selectOption("select[name=to]", "2");
  await page.click("#diff");
  await page.waitForSelector("#diff-summary");
  const summary = await page.textContent("#diff-summary");
  check(summary === config.diff_summary, `the diff says ${JSON.stringify(summary)}, not ${JSON.stringify(config.diff_summary)}`);
  check((await page.textContent("#added")).includes(config.added), "the added resource is not listed");
  check((await page.textContent("#changed")).includes(config.changed_text), "the changed content is not shown");
  await shot(page, "05-diff.png");

  // The dependency graph of version 2; a click on a resource opens it.
  await page.click("nav.tabs a[data-tab=versions]");
  await page.waitForSelector("#versions");
  await page.click(`#versions a[href="#/env/${env}/graph/2"]`);
  await page.waitForSelector("#graph[data-painted=true]");
  const nodes = Number(await page.getAttribute("#graph", "data-nodes"));
  const edges = Number(await page.getAttribute("#graph", "data-edges"));
  check(nodes === config.graph_nodes && edges === config.graph_edges, `the graph has ${nodes} nodes and ${edges} edges, not ${config.graph_nodes} and ${config.graph_edges}`);
  await shot(page, "06-graph.png");
  const where = await page.evaluate((id) => document.getElementById("graph").locate(id), config.graph_click);
  check(where !== null, `${config.graph_click} is not in the graph`);
  await page.mouse.click(where.x, where.y);
  await page.waitForFunction((id) => document.querySelector("#resource-id")?.textContent === id, config.graph_click);
  check(problems.length === 0, problems.join("\n"));
}

async function compile({ page, problems }) {
  await logIn(page, config.token);
  await page.goto(`${config.url}/#/env/${config.env}/compiles`);
  await page.waitForSelector("#compiles tr[data-success=false] a.report");
  await page.click("#compiles tr[data-success=false] a.report");
  await page.waitForSelector("#diagnostics");
  const where = await page.textContent("#diagnostics");
  check(where.includes(config.where), `the diagnostics say ${JSON.stringify(where)}, not ${config.where}`);
  const rendered = await page.textContent("#rendered");
  check(rendered.includes(config.where) && rendered.includes(config.label), `the rendered diagnostic is ${JSON.stringify(rendered)}`);
  await shot(page, "07-compile-error.png");
  check(problems.length === 0, problems.join("\n"));
}

// Figures: from navigating to the resources page to its first rows on screen, to every row
// loaded, and from there to the last row drawn after a jump to the end. Also checks the list
// is virtual: the page holds a few dozen rows, whatever the count.
async function scroll({ page, problems }) {
  await logIn(page, config.token);
  const runs = [];
  for (let run = 0; run < (config.runs || 3); run++) {
    const started = await openTimed(page, `#/env/${config.env}/resources`);
    await page.waitForSelector("#resources .row");
    const first = Date.now() - started;
    await page.waitForSelector("#resources[data-complete=true]", { timeout: TIMEOUT });
    const loaded = Date.now() - started;
    const rows = Number(await page.getAttribute("#resources", "data-rows"));
    check(rows === config.expected, `the list has ${rows} rows, not ${config.expected}`);
    const scrolled = Date.now();
    await page.evaluate(() => { const list = document.getElementById("resources"); list.scrollTop = list.scrollHeight; });
    await page.waitForFunction((last) => [...document.querySelectorAll("#resources .row")].some((r) => r.dataset.id === last), config.last_id);
    const end = Date.now() - scrolled;
    const inDocument = await page.evaluate(() => document.querySelectorAll("#resources .row").length);
    check(inDocument < 200, `${inDocument} rows are in the document: the list is not virtual`);
    runs.push({ first_rows_ms: first, all_loaded_ms: loaded, scroll_to_end_ms: end, rows_in_document: inDocument });
  }
  await shot(page, "08-resources-scrolled.png");
  process.stdout.write(`FIGURES ${JSON.stringify(runs)}\n`);
  check(problems.length === 0, problems.join("\n"));
}

// Figures: from opening a version's graph to its first paint, and the time one repaint takes
// (a drag redraws every node and edge).
async function graph({ page, problems }) {
  await logIn(page, config.token);
  const runs = [];
  for (let run = 0; run < (config.runs || 3); run++) {
    const started = await openTimed(page, `#/env/${config.env}/graph/${config.version}`);
    await page.waitForSelector("#graph[data-painted=true]", { timeout: TIMEOUT });
    const painted = Date.now() - started;
    const nodes = Number(await page.getAttribute("#graph", "data-nodes"));
    check(nodes === config.expected, `the graph has ${nodes} nodes, not ${config.expected}`);
    const box = await page.locator("#graph").boundingBox();
    const frames = await page.evaluate(async ({ x, y }) => {
      const canvas = document.getElementById("graph");
      const times = [];
      canvas.dispatchEvent(new PointerEvent("pointerdown", { clientX: x, clientY: y, pointerId: 1, bubbles: true }));
      for (let i = 1; i <= 10; i++) {
        const before = performance.now();
        canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: x + i * 5, clientY: y, pointerId: 1, bubbles: true }));
        await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        times.push(performance.now() - before);
      }
      canvas.dispatchEvent(new PointerEvent("pointerup", { clientX: x + 50, clientY: y, pointerId: 1, bubbles: true }));
      return times;
    }, { x: box.x + box.width / 2, y: box.y + box.height / 2 });
    frames.sort((a, b) => a - b);
    runs.push({ first_paint_ms: painted, drag_frame_ms: Math.round(frames[Math.floor(frames.length / 2)]) });
  }
  await shot(page, "09-graph-large.png");
  process.stdout.write(`FIGURES ${JSON.stringify(runs)}\n`);
  check(problems.length === 0, problems.join("\n"));
}

// A server with --insecure-no-auth: the page opens without a login.
async function insecure({ page, problems }) {
  await page.goto(config.url + "/");
  await page.waitForSelector(`#environments a[href="#/env/${config.env}/resources"]`);
  check((await page.$("#login")) === null, "the page asked for a token");
  check(problems.length === 0, problems.join("\n"));
}

const scenarios = { deploy, compile, scroll, graph, insecure };

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error(`no scenario ${scenario}; the scenarios are ${Object.keys(scenarios).join(", ")}`);
  const browser = await launch();
  try {
    await run(browser);
  } catch (error) {
    await shot(browser.page, `failed-${scenario}.png`).catch(() => {});
    throw error;
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
