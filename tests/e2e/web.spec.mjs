// End-to-end test of the web page served at GET /: a real `vista serve` with the tiny model on
// 127.0.0.1, driven by headless Chromium through playwright-core.
//
//   node tests/e2e/web.spec.mjs            (CTest runs it as web_e2e)
//
// Environment: VISTA_BINARY (default build/vista), VISTA_GOLDEN_DIR (else the build's default,
// VISTA_DEFAULT_GOLDEN_DIR, else ../shared/golden beside the checkout), VISTA_CHROMIUM (default /usr/bin/chromium), VISTA_E2E_OUT (where the
// screenshots go; default build/e2e). A missing prerequisite skips (exit 77) on a developer's
// machine and fails under CI=true.
//
// The expected result orders come from golden.json: embeddings the reference implementation
// computed for the same images and texts with the same tiny model. Only the leading hits whose
// reference scores are clearly apart are compared, so float noise cannot reorder them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const inCi = !!process.env.CI;  // as tests/test_support.cpp: set and non-empty
const vistaBinary = process.env.VISTA_BINARY || path.join(root, "build", "vista");
const goldenDir = process.env.VISTA_GOLDEN_DIR || process.env.VISTA_DEFAULT_GOLDEN_DIR
                  || path.resolve(root, "..", "shared", "golden");
const chromiumPath = process.env.VISTA_CHROMIUM || "/usr/bin/chromium";
const outDir = process.env.VISTA_E2E_OUT || path.join(root, "build", "e2e");
const imagesDir = path.join(goldenDir, "images");

// Ingested through the API before the page loads; UPLOADED goes in through the page.
const INGESTED = ["dragon02.png", "dragon05.png", "cir_query.png", "query.png", "datawhale01.png",
                  "wiki_candi_1.jpg"];
const UPLOADED = "other01.png";
const QUERY_TEXT = "dragon flying over a castle at sunset";
const COLLECTION = "e2e";
// Reference scores closer than this are not used to check order.
const ORDER_MARGIN = 5e-4;

function unavailable(reason) {
  if (inCi) {
    console.error(`web_e2e: FAILED: ${reason} (required under CI)`);
    process.exit(1);
  }
  console.log(`web_e2e: SKIP: ${reason}`);
  process.exit(77);
}

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  unavailable(`playwright-core is not installed in tests/e2e (run scripts/setup.sh): ${e.message}`);
}
if (!fs.existsSync(chromiumPath)) unavailable(`no Chromium at ${chromiumPath} (apt-get install chromium)`);
if (!fs.existsSync(vistaBinary)) unavailable(`no vista binary at ${vistaBinary} (build first)`);
if (!fs.existsSync(path.join(goldenDir, "golden.json"))) unavailable(`golden data missing at ${goldenDir} (set VISTA_GOLDEN_DIR)`);
// (`vista serve --help` would exit 0 even without the command: the help flag wins.)
const help = spawnSync(vistaBinary, ["--help"], { encoding: "utf8" });
if (!/^\s+serve\s/m.test(`${help.stdout}`)) unavailable(`${vistaBinary} has no serve command`);

// ---- reference order from golden.json ----------------------------------------------------------

const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, "golden.json"), "utf8"));
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
function imageVector(name) {
  const entry = golden.images.find((i) => i.image === `imgs/${name}`);
  assert.ok(entry && entry.image_only, `golden.json has no image_only embedding for ${name}`);
  return entry.image_only;
}
function textVector(text) {
  const entry = golden.texts.find((t) => t.text === text);
  assert.ok(entry, `golden.json has no embedding for the text "${text}"`);
  return entry.embedding;
}
// The ids ranked by the reference scores, cut where two neighbours come too close to call.
function expectedLeaders(query, ids) {
  const ranked = ids.map((id) => ({ id, score: dot(query, imageVector(id)) }))
                    .sort((a, b) => b.score - a.score);
  const leaders = [ranked[0].id];
  for (let i = 1; i < ranked.length && ranked[i - 1].score - ranked[i].score > ORDER_MARGIN; i++) {
    leaders.push(ranked[i].id);
  }
  return leaders;
}

// ---- server ---------------------------------------------------------------------------------------

let server = null;
let modelless = null;
let baseUrl = "";
let tmp = "";
let lastServerLog = () => "";
let context = null;
let page = null;
const consoleErrors = [];

// Starts `vista serve`; `withModel` false: no model (none given, none in $VISTA_MODEL, none in the
// working directory), so the server serves stored collections only.
function startServer(dataDir, withModel = true) {
  return new Promise((resolve, reject) => {
    const args = ["serve", "--data", dataDir, "--host", "127.0.0.1", "--port", "0"];
    if (withModel) args.push("--model", path.join(goldenDir, "tiny-model"));
    const env = Object.assign({}, process.env);
    delete env.VISTA_MODEL;
    let serverLog = "";
    const child = spawn(vistaBinary, args, { stdio: ["ignore", "pipe", "pipe"], env, cwd: tmp });
    if (withModel) server = child; else modelless = child;
    const timer = setTimeout(() => reject(new Error(`no listening address in the server log within 120 s:\n${serverLog}`)), 120000);
    const onData = (chunk) => {
      serverLog += chunk.toString();
      const m = serverLog.match(/(?:127\.0\.0\.1|localhost):(\d{2,5})\b/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    if (withModel) lastServerLog = () => serverLog;
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`vista serve exited early (code ${code}, signal ${signal}):\n${serverLog}`));
    });
  });
}

async function waitReady() {
  const deadline = Date.now() + 120000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${baseUrl}/ready`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (e) { last = e.message; }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server not ready within 120 s (last answer: ${last})\n${lastServerLog()}`);
}

async function call(method, route, body) {
  const res = await fetch(baseUrl + route, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${route} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : {};
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vista-web-e2e-"));
  fs.mkdirSync(outDir, { recursive: true });
  const port = await startServer(path.join(tmp, "data"));
  baseUrl = `http://127.0.0.1:${port}`;
  await waitReady();

  await call("POST", "/v1/collections", { name: COLLECTION });
  const documents = INGESTED.map((name, i) => ({
    id: name,
    image: fs.readFileSync(path.join(imagesDir, name)).toString("base64"),
    metadata: { file: name, kind: name.startsWith("dragon") ? "dragon" : "photo", n: i },
  }));
  const ingest = await call("POST", `/v1/collections/${COLLECTION}/documents`, { documents });
  assert.equal(ingest.results.length, INGESTED.length);
  for (const r of ingest.results) assert.ok(!r.error, `ingest of ${r.id} failed: ${JSON.stringify(r.error)}`);

  const userDataDir = path.join(tmp, "chromium-profile");
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    // No network here: without these Chromium keeps dialling out and logs refused connections.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || (await context.newPage());
  // Generous: the whole suite may be running beside this test on two cores.
  page.setDefaultTimeout(60000);
  page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(`console: ${msg.text()}`); });
  page.on("pageerror", (err) => consoleErrors.push(`page error: ${err.message}`));
});

after(async () => {
  if (page && consoleErrors.length === 0) {
    await page.screenshot({ path: path.join(outDir, "web.png"), fullPage: true }).catch(() => {});
  }
  if (context) await context.close().catch(() => {});
  for (const child of [server, modelless]) {
    if (!child || child.exitCode !== null) continue;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    await exited;
    clearTimeout(timer);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- page helpers ---------------------------------------------------------------------------------

async function gridIds() {
  return page.$$eval("#grid .card", (cards) => cards.map((c) => c.dataset.id));
}

// Runs `action` and waits for the page's search request to be answered and the grid redrawn.
async function searchWith(action) {
  const answered = page.waitForResponse((r) => r.url().endsWith(`/v1/collections/${COLLECTION}/search`)
                                              && r.request().method() === "POST");
  await action();
  const res = await answered;
  assert.equal(res.status(), 200, `search answered ${res.status()}: ${await res.text()}`);
  const body = await res.json();
  await page.waitForFunction((n) => document.querySelectorAll("#grid .card").length === n
                                    && !document.getElementById("results").hasAttribute("aria-busy"),
                             body.hits.length);
  return { request: JSON.parse(res.request().postData()), body };
}

async function assertThumbnailsLoaded() {
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#grid .card img"))
    .every((img) => img.complete), null, { timeout: 30000 });
  const sizes = await page.$$eval("#grid .card img", (imgs) => imgs.map((i) => [i.alt, i.naturalWidth, i.naturalHeight]));
  const cards = (await gridIds()).length;
  assert.equal(sizes.length, cards, "every result shows a thumbnail");
  for (const [id, w, h] of sizes) {
    assert.ok(w > 0 && h > 0, `thumbnail of ${id} did not load`);
    assert.ok(Math.min(w, h) <= 256, `thumbnail of ${id} is ${w}x${h}, not reduced for size=256`);
  }
}

// ---- the test ---------------------------------------------------------------------------------------

test("the web page searches by text, adds a picture, and searches by that picture", async (t) => {
  await page.goto(baseUrl + "/");
  await page.waitForSelector("html[data-ready=true]");

  await t.test("collection picker shows the collection and its count", async () => {
    assert.equal(await page.inputValue("#collection"), COLLECTION);
    await page.waitForFunction(() => /\b6 documents\b/.test(document.getElementById("collection-count").textContent));
  });

  await t.test("text search shows the expected ids", async () => {
    await page.fill("#q", QUERY_TEXT);
    const { request, body } = await searchWith(() => page.press("#q", "Enter"));
    assert.equal(request.text, QUERY_TEXT);
    assert.equal(request.image, undefined);
    const ids = await gridIds();
    assert.deepEqual(ids, body.hits.map((h) => h.id), "the grid shows the hits in the server's order");
    assert.equal(ids.length, INGESTED.length, "k=12 over 6 documents returns all 6");
    const leaders = expectedLeaders(textVector(QUERY_TEXT), INGESTED);
    assert.ok(leaders.length >= 2, `the reference separates at least two leaders: ${leaders}`);
    assert.deepEqual(ids.slice(0, leaders.length), leaders);
    const firstScore = await page.textContent("#grid .card .score");
    assert.equal(firstScore, body.hits[0].score.toFixed(3));
    await assertThumbnailsLoaded();
  });

  await t.test("a picture uploaded through the form is stored", async () => {
    await page.setInputFiles("#up-input", path.join(imagesDir, UPLOADED));
    await page.fill("#up-meta", '{"kind": "photo", "via": "upload"}');
    await page.click("#up-btn");
    await page.waitForSelector("#up-files li.ok, #up-files li.failed");
    const row = await page.textContent("#up-files li");
    assert.match(row, new RegExp(`added as ${UPLOADED.replace(".", "\\.")}`), row);
    await page.waitForFunction(() => /\b7 documents\b/.test(document.getElementById("collection-count").textContent));
    const stored = await call("GET", `/v1/collections/${COLLECTION}/documents/${UPLOADED}`);
    assert.equal(stored.metadata && stored.metadata.via, "upload");
  });

  await t.test("search by the uploaded picture finds it first", async () => {
    await page.fill("#q", "");
    await page.setInputFiles("#qimg-input", path.join(imagesDir, UPLOADED));
    await page.waitForSelector("#qimg-chosen:not([hidden])");
    const { request } = await searchWith(() => page.click("#search-btn"));
    assert.equal(request.text, undefined);
    assert.equal(request.image, fs.readFileSync(path.join(imagesDir, UPLOADED)).toString("base64"));
    const ids = await gridIds();
    const all = [...INGESTED, UPLOADED];
    const leaders = expectedLeaders(imageVector(UPLOADED), all);
    assert.equal(leaders[0], UPLOADED);
    assert.deepEqual(ids.slice(0, leaders.length), leaders);
    const score = Number(await page.textContent("#grid .card .score"));
    assert.ok(score > 0.999, `the picture matches itself with score ${score}`);
    await assertThumbnailsLoaded();
  });

  await t.test("more like this, from the keyboard", async () => {
    const card = page.locator('#grid .card[data-id="dragon02.png"]');
    await card.focus();
    const { request } = await searchWith(() => page.keyboard.press("Enter"));
    assert.equal(request.id, "dragon02.png");
    // Whether the document itself is among the hits is the server's choice; the rest must follow
    // the reference order.
    const ids = (await gridIds()).filter((id) => id !== "dragon02.png");
    const others = [...INGESTED, UPLOADED].filter((id) => id !== "dragon02.png");
    const leaders = expectedLeaders(imageVector("dragon02.png"), others);
    assert.deepEqual(ids.slice(0, leaders.length), leaders);
    assert.equal(await page.evaluate(() => document.activeElement.classList.contains("card")), true,
                 "focus lands on the first result");
  });

  await t.test("after more like this, the form shows that query and repeats it", async () => {
    assert.equal(await page.isVisible("#like-chip"), true, "the form says which document");
    assert.equal(await page.textContent("#like-name"), "dragon02.png");
    assert.equal(await page.inputValue("#q"), "", "the old text is gone");
    assert.equal(await page.isVisible("#qimg-chosen"), false, "the old picture is gone");
    assert.match(await page.textContent("#results-title"), /like dragon02\.png/);
    const { request } = await searchWith(() => page.click("#search-btn"));
    assert.equal(request.id, "dragon02.png");
    assert.equal(request.text, undefined);
  });

  await t.test("load more asks for the next page and appends it", async () => {
    await page.fill("#k", "3");
    await page.fill("#q", QUERY_TEXT);
    assert.equal(await page.isVisible("#like-chip"), false, "typing replaces the like query");
    const first = await searchWith(() => page.press("#q", "Enter"));
    assert.equal(first.body.hits.length, 3);
    assert.equal(await page.isVisible("#load-more"), true);
    const answered = page.waitForResponse((r) => r.url().endsWith(`/v1/collections/${COLLECTION}/search`));
    await page.click("#load-more");
    const res = await answered;
    const request = JSON.parse(res.request().postData());
    assert.equal(request.offset, 3);
    assert.equal(request.text, QUERY_TEXT);
    const more = await res.json();
    await page.waitForFunction((n) => document.querySelectorAll("#grid .card").length === n,
                               3 + more.hits.length);
    const ids = await gridIds();
    assert.deepEqual(ids.slice(3), more.hits.map((h) => h.id));
    assert.equal(new Set(ids).size, ids.length, "no hit twice");
    await page.fill("#k", "12");
  });

  await t.test("a document can be deleted from its card", async () => {
    await page.fill("#q", QUERY_TEXT);
    await searchWith(() => page.press("#q", "Enter"));
    const victim = "wiki_candi_1.jpg";
    page.once("dialog", (d) => d.accept());
    const deleted = page.waitForResponse((r) => r.request().method() === "DELETE");
    await page.click(`#grid .card[data-id="${victim}"] button.delete`);
    assert.equal((await deleted).status(), 200);
    await page.waitForFunction((id) => !document.querySelector(`#grid .card[data-id="${id}"]`), victim);
    await page.waitForFunction(() => /\b6 documents\b/.test(document.getElementById("collection-count").textContent));
    const gone = await fetch(`${baseUrl}/v1/collections/${COLLECTION}/documents/${victim}`);
    assert.equal(gone.status, 404);
  });

  await t.test("every file that is not uploaded is named", async () => {
    const notes = path.join(tmp, "notes.txt");
    fs.writeFileSync(notes, "not a picture");
    await page.setInputFiles("#up-input", [path.join(imagesDir, UPLOADED), notes]);
    assert.match(await page.textContent("#up-picked"), /notes\.txt/);
    await page.click("#up-btn");
    await page.waitForSelector("#up-files li.skipped");
    await page.waitForSelector("#up-files li.ok");
    const skipped = await page.textContent("#up-files li.skipped");
    assert.match(skipped, /notes\.txt/);
    assert.match(skipped, /not a picture/);
    await page.waitForFunction(() => /notes\.txt/.test(document.getElementById("up-picked").textContent));
  });

  await t.test("an invalid filter is caught before sending", async () => {
    let sent = 0;
    const count = (r) => { if (r.url().endsWith("/search")) sent++; };
    page.on("request", count);
    await page.click("#filter-details summary");
    await page.fill("#filter", '{"kind": ');
    await page.click("#search-btn");
    await page.waitForFunction(() => document.getElementById("filter-error").textContent.length > 0);
    assert.equal(await page.getAttribute("#filter", "aria-invalid"), "true");
    page.off("request", count);
    assert.equal(sent, 0, "no request with a broken filter");
    await page.fill("#filter", "");
  });

  await t.test("text and picture together, then the screenshot", async () => {
    await page.setInputFiles("#qimg-input", path.join(imagesDir, UPLOADED));
    await page.waitForSelector("#qimg-chosen:not([hidden])");
    await page.fill("#q", "a dragon");
    const { request, body } = await searchWith(() => page.press("#q", "Enter"));
    assert.equal(request.text, "a dragon");
    assert.ok(request.image, "the picture is still attached");
    assert.deepEqual(await gridIds(), body.hits.map((h) => h.id));
    await assertThumbnailsLoaded();
    await page.screenshot({ path: path.join(outDir, "web-desktop.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(outDir, "web-narrow.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  assert.deepEqual(consoleErrors, [], "no console errors");
});

test("without a model the page turns off what the server cannot do", async () => {
  const port = await startServer(path.join(tmp, "data-no-model"), false);
  const other = await context.newPage();
  try {
    await other.goto(`http://127.0.0.1:${port}/`);
    await other.waitForSelector("html[data-ready=true]");
    assert.equal(await other.isVisible("#no-model-note"), true);
    assert.equal(await other.isDisabled("#q"), true, "text search is off");
    assert.equal(await other.isDisabled("#qimg-input"), true, "picture search is off");
    assert.equal(await other.isDisabled("#up-btn"), true, "uploads are off");
  } finally {
    await other.close();
  }
});
