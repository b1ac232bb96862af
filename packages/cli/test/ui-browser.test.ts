/**
 * `rescale-run ui` in headless Chromium (Debian's /usr/bin/chromium driven by puppeteer-core) against a local
 * platform daemon with a small emulated catalog: each page checked against the API as the CLI's --json reports it,
 * a workstation submitted from the form that reaches Executing and finishes, its report opened, another stopped.
 * Each page's screenshot is saved under packages/cli/test-artifacts/ui/ (git-ignored). Without Chromium (or
 * puppeteer-core) the suite is skipped and says why.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureRunnerBundle } from "../src/bundle.js";
import { money } from "../src/format.js";
import { loadRunner } from "../src/runner-module.js";
import { BIN, REPO, runBin, sandboxEnv } from "./helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CATALOG = join(import.meta.dirname, "fixtures", "ui-catalog.json");
const ARTIFACTS = join(REPO, "packages/cli/test-artifacts/ui");
/** The runner bundle is cached by content hash: sharing e2e-local's cache keeps it packed once. */
const SHARED_CACHE = join(tmpdir(), "rescale-run-cli-e2e-cache");

type Puppeteer = typeof import("puppeteer-core");
type Browser = Awaited<ReturnType<Puppeteer["launch"]>>;
type Page = Awaited<ReturnType<Browser["newPage"]>>;

async function loadPuppeteer(): Promise<Puppeteer | string> {
  if (!existsSync(CHROMIUM))
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  try {
    return (await import("puppeteer-core")).default as unknown as Puppeteer;
  } catch (err) {
    return `puppeteer-core is not installed (${(err as Error).message})`;
  }
}
const puppeteer = await loadPuppeteer();
const skipReason = typeof puppeteer === "string" ? puppeteer : null;
if (skipReason) console.warn(`ui-browser tests skipped: ${skipReason}`);

let env: NodeJS.ProcessEnv;
let dataDir: string;
let ui: ChildProcess;
let base: string;
let loginUrl: string;
let browser: Browser;
let page: Page;
const shots: string[] = [];

async function cli<T>(args: string[]): Promise<T> {
  const r = await runBin([...args, "--json"], env, { timeoutMs: 120_000 });
  // `status` of a job that did not succeed exits 1 with its timeline: still an answer.
  if (r.code !== 0 && !(r.code === 1 && args[0] === "status"))
    throw new Error(`rescale-run ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function shot(name: string): Promise<void> {
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

const text = (selector: string) => page.$eval(selector, (el) => (el.textContent ?? "").trim());

/** The first line of the `ui --json` process's stdout that completes a JSON document. */
function uiAddress(child: ChildProcess): Promise<{ url: string; loginUrl: string }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`ui did not start: ${err}`)), 60_000);
    child.stderr?.on("data", (d) => {
      err += d;
    });
    child.stdout?.on("data", (d) => {
      out += d;
      try {
        const parsed = JSON.parse(out);
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // not complete yet
      }
    });
    child.once("exit", (code) => reject(new Error(`ui exited ${code}: ${err}`)));
  });
}

beforeAll(async () => {
  if (skipReason) return;
  for (const file of [BIN, join(REPO, "packages/runner/dist/bin.js")])
    if (!existsSync(file)) throw new Error(`${file} is missing: build first with npx -y pnpm@9 -r build`);
  mkdirSync(ARTIFACTS, { recursive: true });
  env = sandboxEnv({ XDG_CACHE_HOME: SHARED_CACHE });
  dataDir = join(mkdtempSync(join(tmpdir(), "rr-ui-data-")), "tiny-busi");
  const { generateSyntheticDataset } = await loadRunner();
  await generateSyntheticDataset(dataDir, { perClass: 8, size: 96, seed: 7 });
  // Pack the runner bundle now (minutes on 2 cores the first time after the runner changed; cached by content
  // hash afterwards), so the form's submit below waits for uploads only.
  await ensureRunnerBundle(rescaleRunDir("cache", env));
  const start = await runBin(["local", "start", "--max-cores", "4", "--catalog", CATALOG], env);
  if (start.code !== 0) throw new Error(`local start: ${start.stderr}`);
  ui = spawn(process.execPath, [BIN, "ui", "--json"], { env, cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  ({ url: base, loginUrl } = await uiAddress(ui));
  browser = await (puppeteer as Puppeteer).launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
}, 900_000);

afterAll(async () => {
  if (skipReason) return;
  await browser?.close();
  if (ui && ui.exitCode === null) {
    ui.kill("SIGINT");
    await new Promise((r) => ui.once("exit", r));
  }
  await runBin(["local", "stop"], env);
}, 60_000);

interface ListRow {
  id: string;
  name: string;
  status: string;
}

describe.skipIf(skipReason !== null)("rescale-run ui in headless Chromium", () => {
  it("signs in with the printed URL, and the key never reaches the browser", async () => {
    await page.goto(loginUrl);
    expect(page.url()).toBe(`${base}/workstations`);
    const cookies = await page.cookies();
    expect(cookies).toEqual([
      expect.objectContaining({ name: "rescale_run_ui", httpOnly: true, sameSite: "Strict" }),
    ]);
    const config = readdirSync(env.XDG_CONFIG_HOME!, { recursive: true })
      .map(String)
      .map((f) => join(env.XDG_CONFIG_HOME!, f))
      .filter((f) => f.endsWith(".json"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const apiKey = /"apiKey"\s*:\s*"([^"]+)"/.exec(config)?.[1];
    expect(apiKey, "the local platform's key in the sandbox config").toBeTruthy();
    expect(await page.content()).not.toContain(apiKey);
    expect(JSON.stringify(cookies)).not.toContain(apiKey);
  });

  it("Coretype Explorer shows the prices, sort, filter and recommendation of `coretypes compare`", async () => {
    const compare = await cli<{
      rows: {
        code: string;
        prices: { onDemandPriority: { perHour: number; walltimeCost: number } | null };
      }[];
      recommendation: { code: string; name: string } | null;
    }>(["coretypes", "compare", "--cores", "2", "--walltime", "3h"]);
    await page.goto(`${base}/coretypes?cores=2&walltime=3h`);
    const codes = await page.$$eval("#coretypes tbody tr", (rows) =>
      rows.map((r) => r.getAttribute("data-code")),
    );
    expect(codes).toEqual(compare.rows.map((r) => r.code));
    const onyx = compare.rows.find((r) => r.code === "test-onyx")!;
    expect(await text('tr[data-code="test-onyx"] td[data-price="onDemandPriority"]')).toBe(
      money(onyx.prices.onDemandPriority?.perHour),
    );
    expect(await text('tr[data-code="test-onyx"] td[data-cost]')).toBe(
      money(onyx.prices.onDemandPriority?.walltimeCost),
    );
    expect(await text("#recommendation")).toContain(compare.recommendation!.name);
    expect(await page.$eval("tr.rec", (r) => r.getAttribute("data-code"))).toBe(compare.recommendation!.code);
    // Sort by memory (a header link), then filter by name.
    await Promise.all([page.waitForNavigation(), page.click('thead a[href*="sort=memoryPerNode"]')]);
    const memOrder = await page.$$eval("#coretypes tbody tr", (rows) =>
      rows.map((r) => r.getAttribute("data-code")),
    );
    expect(memOrder.slice(-2)).toEqual(["test-onyx", "test-jade"]);
    await page.$eval("#filter", (el) => {
      (el as HTMLInputElement).value = "onyx";
    });
    await Promise.all([page.waitForNavigation(), page.click(".filters button")]);
    expect(await page.$$eval("#coretypes tbody tr", (rows) => rows.length)).toBe(1);
    await page.goto(`${base}/coretypes?cores=2&walltime=3h`);
    await shot("coretypes");
  });

  it("submits a workstation from the form with the dry run's plan, watches it run, opens its report", {
    timeout: 300_000,
  }, async () => {
    const fields = { name: "ui e2e <train>", cores: "2", walltime: "3h", epochs: "3" };
    const runnerArgs = "--cv-folds=0 --views=1";
    const dry = await cli<{ plan: { maxCost: number; pricePerHour: number } }>([
      "submit",
      "--data",
      dataDir,
      "--core-type",
      "test-onyx",
      "--cores",
      "2",
      "--walltime",
      "3h",
      "--epochs",
      "3",
      `--runner-arg=--cv-folds=0`,
      `--runner-arg=--views=1`,
      "--name",
      fields.name,
      "--dry-run",
    ]);
    await page.goto(`${base}/new`);
    for (const [id, value] of Object.entries({ ...fields, data: dataDir, runnerArgs })) {
      await page.$eval(
        `#${id}`,
        (el, v) => {
          (el as HTMLInputElement).value = v as string;
        },
        value,
      );
    }
    await page.select("#coreType", "test-onyx");
    await Promise.all([page.waitForNavigation(), page.click("#show-plan")]);
    expect(await text("#max-cost")).toBe(money(dry.plan.maxCost));
    expect(await text('#plan dd[data-row="core type"]')).toContain("test-onyx");
    expect(await text('#plan dd[data-row="job"]')).toContain(fields.name);
    await shot("new-workstation");

    await Promise.all([page.waitForNavigation({ timeout: 180_000 }), page.click("#submit")]);
    const jobId = /\/workstations\/([^/?#]+)$/.exec(page.url())?.[1];
    expect(jobId, page.url()).toBeTruthy();
    // The live poller updates the status in place: Executing, then (after a reload) Completed.
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "Executing", {
      timeout: 120_000,
    });
    expect(await text("#log")).not.toBe("");
    await shot("workstation-running");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "Completed", {
      timeout: 240_000,
      polling: 1000,
    });
    await page.waitForSelector("#report", { timeout: 30_000 });
    const status = await cli<{ outcome: string; statuses: { status: string }[] }>(["status", jobId!]);
    expect(status.outcome).toBe("succeeded");
    expect(status.statuses.map((s) => s.status)).toEqual(expect.arrayContaining(["Executing", "Completed"]));
    // Plots inline: loaded images.
    const plots = await page.$$eval("#outputs .plots img", (imgs) =>
      imgs.map((i) => (i as HTMLImageElement).naturalWidth),
    );
    expect(plots.length).toBeGreaterThan(0);
    expect(plots.every((w) => w > 0)).toBe(true);
    await shot("workstation-done");

    // The list: rows as `rescale-run list` has them.
    const list = (await cli<{ jobs: ListRow[] }>(["list"])).jobs;
    await page.goto(`${base}/workstations`);
    const rows = await page.$$eval("#jobs tbody tr", (trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute("data-job"),
        name: tr.children[1]?.textContent,
        status: tr.children[3]?.textContent,
      })),
    );
    expect(rows).toEqual(list.map((r) => ({ id: r.id, name: r.name, status: r.status })));
    await shot("workstations");

    await page.goto(`${base}/workstations/${jobId}/report`);
    expect(await page.title()).toMatch(/Run report/);
    expect(await page.content()).toContain("Metrics (test split)");
    expect(
      await page.$$eval("img", (imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length),
    ).toBeGreaterThan(0);
    await shot("report");
  });

  it("stops another workstation after a confirmation", { timeout: 200_000 }, async () => {
    const submitted = await cli<{ jobId: string }>([
      "submit",
      "--data",
      dataDir,
      "--cores",
      "1",
      "--walltime",
      "1h",
      "--name",
      "ui e2e stop me",
      "--detach",
      "--yes",
    ]);
    const id = submitted.jobId;
    await page.goto(`${base}/workstations/${id}`);
    await page.waitForSelector("#stop");
    await Promise.all([page.waitForNavigation(), page.click("#stop")]);
    expect(await text("h1")).toContain(`Stop ui e2e stop me (job ${id})?`);
    await shot("stop-confirm");
    await Promise.all([page.waitForNavigation(), page.click("#confirm-stop")]);
    expect(page.url()).toBe(`${base}/workstations/${id}`);
    const deadline = Date.now() + 120_000;
    let status = await cli<{ outcome: string; statuses: { status: string; statusReason?: string }[] }>([
      "status",
      id,
    ]);
    const ended = new Set(["succeeded", "failed", "stopped"]);
    while (!ended.has(status.outcome) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      status = await cli(["status", id]);
    }
    // A user stop is its own outcome (the SDK's classification: "User Terminated" / "Stopped by user").
    expect(status.outcome).toBe("stopped");
    expect(status.statuses.at(-1)?.statusReason ?? "").toMatch(/stop/i);
    // Both jobs in the list, as the API has them now.
    await page.goto(`${base}/workstations`);
    const list = (await cli<{ jobs: ListRow[] }>(["list"])).jobs;
    const shown = await page.$$eval("#jobs tbody tr", (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute("data-job"), status: tr.children[3]?.textContent })),
    );
    expect(shown).toEqual(list.map((r) => ({ id: r.id, status: r.status })));
    await shot("workstations");
  });
});
