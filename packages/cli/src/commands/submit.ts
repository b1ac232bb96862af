/**
 * `submit`: flags -> validated plan -> (confirm) -> dataset, runner bundle and bootstrap packed and uploaded ->
 * job created and submitted -> status line until active -> training log streamed -> outputs downloaded.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { DEVICE_CHOICES } from "@rescale-run/runner/device-choices";
import {
  type Analysis,
  PROCESS_OUTPUT_LOG,
  type ProjectRequiredError,
  type RescaleClient,
  type Walltime,
} from "@rescale-run/sdk";
import { rescaleRunDir } from "@rescale-run/sdk/user-dirs";
import type { Argv } from "yargs";
import { BOOTSTRAP_FILE_NAME, renderBootstrapScript } from "../bootstrap.js";
import { ensureRunnerBundle, givenRunnerBundle } from "../bundle.js";
import { runnerCompletion } from "../completion.js";
import { ensureDemoDataset, type InspectedDataset, inspectDatasetFlag, packDataset } from "../dataset.js";
import { errorKind, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import type { CommandSpec, Factory } from "../factory.js";
import { followJob } from "../follow.js";
import { metricsLine, perClassLines } from "../format.js";
import { downloadFinalOutputs, metricsCandidates, readRunMetrics, SUBMIT_SCHEMA } from "../job-outputs.js";
import { formatBytes, formatDuration } from "../output.js";
import {
  allowIpRule,
  buildPlan,
  chooseCoreType,
  chooseSoftware,
  DEFAULT_SOFTWARE,
  type DeviceFlag,
  type Plan,
  PRIORITIES,
  type PriorityFlag,
  parseCoresFlag,
  parseWalltimeFlag,
} from "../plan.js";
import { checkBeforeUpload } from "../preflight.js";
import { renderPlan } from "../render-plan.js";
import { checkRunnerArgs } from "../runner-args.js";
import { offlineRuntime } from "../runtime.js";
import type { Target } from "../target.js";
import { pollMs, profileFlag, reattachHint } from "./jobs.js";

/** Where the runner writes its artifacts inside the job's working directory. */
const RUNNER_OUT = "outputs";
/** What a successful run leaves there (what the outputs wait is for). */
const RUNNER_OUTPUTS = ["run.json", "metrics.json", "artifacts.zip"].map((f) => `${RUNNER_OUT}/${f}`);

function builder(y: Argv): Argv {
  return y
    .option("cores", {
      type: "string", // parsed by parseCoresFlag: yargs' numbers read "0x2" as 2
      demandOption: true,
      describe: "Cores on the workstation (one of the core type's counts)",
    })
    .option("walltime", {
      type: "string",
      demandOption: true,
      describe: "Maximum run time: 8h, 90m, 1d12h, or hours (billed in whole hours)",
    })
    .option("core-type", {
      type: "string",
      describe: "Core type code or name (default: the cheapest offering --cores)",
    })
    .option("priority", {
      choices: Object.keys(PRIORITIES),
      default: "on-demand-priority",
      describe: "Billing tier",
    })
    .option("name", { type: "string", describe: "Job name (default: rescale-run <dataset>)" })
    .option("project", {
      type: "string",
      describe:
        "Project (name or id) the job belongs to; some workspaces require one (default: the profile's `project`; list: rescale-run projects)",
    })
    .option("data", {
      type: "string",
      describe: "Dataset folder or zip, one subfolder per class (default: the SYNTHETIC demo set)",
    })
    .option("attach", { type: "string", array: true, describe: "Extra files to attach to the job" })
    .option("software", {
      type: "string",
      describe: `Software tile CODE[:VERSION] (default ${DEFAULT_SOFTWARE})`,
    })
    .option("allow-ip", {
      type: "string",
      describe: "Only this IP/CIDR may connect (the seed's \"Use this IP\"); 'auto' on the local platform",
    })
    .option("batch", {
      type: "boolean",
      default: false,
      describe: "A batch job (hardware type compute) instead of a workstation",
    })
    .option("keep-running", {
      type: "boolean",
      default: false,
      describe: "Leave the workstation up after training (until walltime or `stop`)",
    })
    .option("offline-runtime", {
      type: "string",
      describe: "Send Node.js with the job: a linux-x64 tarball, or this machine's node if no file",
    })
    .option("device", {
      choices: DEVICE_CHOICES,
      default: "auto",
      describe:
        "Where the runner trains: auto = the GPU on a GPU core type, else the CPU; gpu = fail unless a GPU is usable",
    })
    .option("epochs", { type: "number", describe: "Training epochs (passed to the runner)" })
    .option("seed", { type: "number", describe: "Random seed (passed to the runner)" })
    .option("runner-arg", {
      type: "string",
      array: true,
      describe: "Any other `rescale-runner train` option, e.g. --runner-arg=--fine-tune",
    })
    .option("detach", {
      type: "boolean",
      default: false,
      describe: "Return after submitting, with the job id and how to re-attach",
    })
    .option("stop-on-interrupt", {
      type: "boolean",
      default: false,
      describe: "Ctrl-C stops the job instead of detaching",
    })
    .option("dry-run", {
      type: "boolean",
      default: false,
      describe: "Validate, print the plan and the bootstrap script; upload nothing",
    })
    .option("yes", { alias: "y", type: "boolean", default: false, describe: "Do not ask for confirmation" })
    .option("out", {
      alias: "o",
      type: "string",
      describe: "Where the outputs go (default ./rescale-run-<job id>)",
    })
    .option("runner-bundle", {
      type: "string",
      describe: "Use this packed runner bundle (.tgz) instead of packing one",
    })
    .option("poll", {
      type: "number",
      describe: "Seconds between status polls (default 1 local, 15 Rescale)",
    })
    .example(
      "$0 submit --cores 4 --walltime 8h",
      "SYNTHETIC demo data; the local platform when no Rescale key is set",
    )
    .example(
      "$0 submit --data ./Dataset_BUSI_with_GT --cores 4 --walltime 8h --profile default",
      "Real BUSI on Rescale",
    )
    .example(
      "$0 submit --core-type emerald --cores 8 --walltime 2h --dry-run",
      "Show the plan, cost and script only",
    )
    .example(
      "$0 submit --cores 2 --walltime 1h --epochs 5 --detach",
      "Submit and return; re-attach with logs --follow",
    );
}

export interface SubmitOptions {
  cores: number;
  walltime: string;
  coreType?: string;
  priority: PriorityFlag;
  name?: string;
  project?: string;
  data?: string;
  attach?: string[];
  software?: string;
  allowIp?: string;
  batch: boolean;
  keepRunning: boolean;
  offlineRuntime?: string;
  device?: DeviceFlag;
  epochs?: number;
  seed?: number;
  runnerArg?: string[];
  detach: boolean;
  stopOnInterrupt: boolean;
  dryRun: boolean;
  yes: boolean;
  out?: string;
  poll?: number;
  runnerBundle?: string;
}

export const submitCommand: CommandSpec = {
  command: "submit",
  describe: "Train on a new workstation and bring the artifacts back",
  builder,
  // yargs has applied the builder's types, defaults and choices: these are exactly the options above (--cores as
  // its text until submitInputs parses it; the dashboard's form gives them too).
  run: (options, factory) => submit(factory, options as unknown as SubmitOptions),
};

function runnerArgs(options: SubmitOptions): string[] {
  const extra: string[] = [];
  if (options.epochs !== undefined) extra.push("--epochs", String(options.epochs));
  if (options.seed !== undefined) extra.push("--seed", String(options.seed));
  for (const arg of options.runnerArg ?? []) extra.push(arg);
  return extra;
}

/** What a submission needs before the platform is asked: the walltime parsed, attachments, dataset, runtime. */
export interface SubmitInputs {
  walltime: Walltime;
  dataset: InspectedDataset;
  runtime: string | null;
}

/** Validates the local inputs of a submission (also the dashboard's form: `rescale-run ui`). */
export async function submitInputs(factory: Factory, options: SubmitOptions): Promise<SubmitInputs> {
  const { io } = factory;
  options.cores = parseCoresFlag(options.cores);
  const walltime = parseWalltimeFlag(options.walltime);
  checkRunnerArgs(await factory.runner(), runnerArgs(options));
  const cache = rescaleRunDir("cache", io.env);
  for (const file of options.attach ?? []) {
    const path = resolve(io.cwd, file);
    if (!existsSync(path) || !(await stat(path)).isFile())
      throw new UsageError(`--attach ${file}: no such file.`);
  }
  const dataset: InspectedDataset =
    options.data !== undefined
      ? await inspectDatasetFlag(options.data, io.cwd)
      : await ensureDemoDataset(cache);
  const runtime =
    options.offlineRuntime !== undefined ? await offlineRuntime(options.offlineRuntime, io.cwd, cache) : null;
  return { walltime, dataset, runtime };
}

async function submit(factory: Factory, options: SubmitOptions): Promise<number> {
  const { out, io } = factory;
  const { walltime, dataset, runtime } = await submitInputs(factory, options);

  await checkBeforeUpload({
    outDir: resolve(io.cwd, options.out ?? "."),
    attachments: (options.attach ?? []).map((f) => resolve(io.cwd, f)),
    jobOwned: [BOOTSTRAP_FILE_NAME, RUNNER_OUT, dataset.jobDir],
  });
  const target = await factory.target();
  const plan = await makePlan(factory, target, options, walltime, dataset, runtime);
  if (options.dryRun) {
    const bootstrapScript = bootstrapScriptFor(plan);
    out.result({ plan, bootstrapScript }, () => {
      renderPlan(out, plan);
      out.line();
      out.line(out.c.bold(`Bootstrap script (${BOOTSTRAP_FILE_NAME}, the job's command):`));
      out.line(bootstrapScript);
      out.line("Dry run: nothing was uploaded or created.");
    });
    return ExitCode.Success;
  }
  if (options.detach && target.inProcess) {
    throw new UsageError(
      "--detach needs a platform that outlives this command; the local platform is running inside it.",
      "Start it in the background first: rescale-run local start",
    );
  }
  if (!out.json) renderPlan(out, plan);
  if (
    !options.yes &&
    io.stdin.isTTY &&
    io.stderr.isTTY &&
    !(await confirm(factory, "Upload and start this job?"))
  ) {
    out.note("Cancelled; nothing was uploaded.");
    return ExitCode.Success;
  }
  const { jobId, uploaded } = await launchJob(factory, target, plan, options, dataset, runtime);
  return followAfterLaunch(factory, target, plan, options, dataset, jobId, uploaded);
}

export async function makePlan(
  factory: Factory,
  target: Target,
  options: SubmitOptions,
  walltime: Walltime,
  dataset: InspectedDataset,
  runtime: string | null,
): Promise<Plan> {
  const { client } = target;
  const [types, analyses, prices, project] = await Promise.all([
    client.coreTypes.list({ isActive: true, pageSize: 100 }),
    client.analyses.list({ pageSize: 100 }),
    client.coreTypes.priceTable(),
    projectOf(target, options.project),
  ]);
  const priority = options.priority ?? "on-demand-priority";
  // The software first: its version says which core types it runs on.
  const software = chooseSoftware(analyses, softwareWanted(options, analyses, factory));
  const choice = chooseCoreType(types, {
    coreType: options.coreType,
    cores: options.cores,
    walltimeHours: walltime.hours,
    priority: PRIORITIES[priority],
    allowedCoreTypes: software.allowedCoreTypes,
    interactive: !options.batch,
    prices,
    softwareLabel: `${software.name} ${software.version}`,
  });
  return buildPlan({
    name: options.name ?? `rescale-run ${dataset.synthetic ? "synthetic demo" : basename(dataset.source)}`,
    platform: { kind: target.kind, label: target.label },
    batch: options.batch,
    device: options.device ?? "auto",
    choice,
    walltime,
    priority,
    software,
    project,
    cidrRule: options.allowIp === undefined ? null : allowIp(options.allowIp, target),
    dataset,
    attachments: (options.attach ?? []).map((f) => resolve(factory.io.cwd, f)),
    runnerArgs: runnerArgs(options),
    offlineRuntime: runtime,
    out: resolve(factory.io.cwd, options.out ?? "rescale-run-<job>"),
  });
}

/** `--project`, else the profile's `project`: resolved to one of the user's projects (by id or name). */
async function projectOf(target: Target, wanted: string | undefined): Promise<Plan["project"]> {
  const name = wanted ?? target.project;
  if (!name) return null;
  try {
    const project = await target.client.projects.resolve(name);
    return { id: project.id, name: project.name ?? null };
  } catch (error) {
    if (errorKind(error) === "not-found")
      throw new UsageError(
        `--project ${name}: ${(error as Error).message}`,
        "See `rescale-run projects` for the projects you may use.",
      );
    throw error;
  }
}

function softwareWanted(options: SubmitOptions, analyses: Analysis[], factory: Factory): string {
  if (options.software) return options.software;
  if (analyses.some((x) => x.code === DEFAULT_SOFTWARE)) return DEFAULT_SOFTWARE;
  factory.out.warn(
    `the platform has no ${DEFAULT_SOFTWARE} software; using user_included (bring your own software)`,
  );
  return "user_included";
}

function allowIp(value: string, target: Target): string {
  if (value !== "auto") return allowIpRule(value);
  if (target.kind === "local") return "127.0.0.1/32";
  throw new UsageError(
    "--allow-ip auto: rescale-run cannot learn your public IP address without asking an outside service, and Rescale's API does not report it.",
    "Pass it explicitly, e.g. --allow-ip 203.0.113.7 (your network administrator or a what-is-my-ip page knows it).",
  );
}

/** The job's bootstrap script; the dry run shows it with a placeholder for the runner bundle's name. */
function bootstrapScriptFor(plan: Plan, bundle?: { fileName: string }): string {
  return renderBootstrapScript({
    runnerArchive: bundle?.fileName ?? "rescale-run-runner-<hash>.tgz",
    dataDir: plan.dataset.jobDir,
    outDir: RUNNER_OUT,
    threads: plan.cores,
    runnerArgs: plan.runnerArgs,
    nodeTarball: plan.offlineRuntime ? basename(plan.offlineRuntime) : undefined,
  });
}

async function confirm(factory: Factory, question: string): Promise<boolean> {
  const rl = createInterface({ input: factory.io.stdin, output: factory.io.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Uploads a file (with progress). */
async function upload(factory: Factory, client: RescaleClient, path: string, label: string) {
  const size = (await stat(path)).size;
  const bar = factory.out.progress(`upload ${label}`, size);
  const file = await client.files.upload(path, {
    onProgress: (e) => bar.update(e.loaded),
    signal: factory.signal,
  });
  bar.finish();
  return file;
}

/**
 * The upload plan: which inputs are already among the user's files with the same name, size and MD5 (reused,
 * not sent again: the runner bundle is about 150 MiB) and which are sent. Printed before anything is uploaded.
 */
async function planUploads(
  factory: Factory,
  client: RescaleClient,
  uploads: { path: string; label: string; decompress: boolean }[],
) {
  const planned = [];
  for (const u of uploads) {
    const found = await client.files.findSameContent(u.path, { signal: factory.signal });
    planned.push({ ...u, existing: found.file, md5: found.md5, bytes: (await stat(u.path)).size });
  }
  factory.out.note("uploads:");
  for (const p of planned)
    factory.out.note(
      p.existing
        ? `  ${p.label}: already uploaded as file ${p.existing.id} (same MD5 ${p.md5}), reused, not sent again`
        : `  ${p.label}: ${formatBytes(p.bytes)}, uploading`,
    );
  return planned;
}

/** Creates the job; a 400 naming the project becomes one line with the way out. */
async function createJob(
  client: RescaleClient,
  request: Parameters<RescaleClient["jobs"]["create"]>[0],
  signal: AbortSignal,
) {
  try {
    return await client.jobs.create(request, { signal });
  } catch (error) {
    if (errorKind(error) === "project-required") {
      const { fieldErrors, message } = error as ProjectRequiredError;
      throw new UsageError(
        `Rescale refused the job: this workspace needs a project (${fieldErrors.map((e) => e.message).join("; ") || message}).`,
        "Pass --project NAME|ID (list them with `rescale-run projects`), or set `project = ...` in the profile.",
      );
    }
    throw error;
  }
}

/**
 * Packs and uploads the dataset, runner bundle, bootstrap script and attachments, then creates and submits the
 * job; returns its id and what was uploaded (or reused). The CLI's submit and the dashboard's New workstation form (`rescale-run ui`) both launch here.
 */
export async function launchJob(
  factory: Factory,
  target: Target,
  plan: Plan,
  options: Pick<SubmitOptions, "runnerBundle">,
  dataset: InspectedDataset,
  runtime: string | null,
): Promise<{ jobId: string; uploaded: UploadedInput[] }> {
  const { out } = factory;
  const { client } = target;
  const cache = rescaleRunDir("cache", factory.io.env);

  out.note("packing the dataset...");
  const datasetZip = await packDataset(dataset, cache);
  const bundle = options.runnerBundle
    ? await givenRunnerBundle(resolve(factory.io.cwd, options.runnerBundle))
    : await ensureRunnerBundle(cache, (stage) => out.note(`${stage}...`));
  out.note(
    bundle.cached
      ? `runner bundle ${bundle.fileName}: ${formatBytes(bundle.bytes)} (cached)`
      : `runner bundle ${bundle.fileName}: ${formatBytes(bundle.bytes)}, packed in ${bundle.packSeconds?.toFixed(1)} s`,
  );
  const work = await mkdtemp(join(tmpdir(), "rescale-run-"));
  const scriptPath = join(work, BOOTSTRAP_FILE_NAME);
  await writeFile(scriptPath, bootstrapScriptFor(plan, bundle), { mode: 0o755 });

  let jobId: string;
  const uploaded: UploadedInput[] = [];
  try {
    const uploads = [
      { path: datasetZip, label: `dataset ${basename(datasetZip)}`, decompress: true },
      { path: bundle.path, label: "runner bundle", decompress: false },
      { path: scriptPath, label: "bootstrap script", decompress: false },
      ...(runtime
        ? [{ path: runtime, label: `Node.js runtime ${basename(runtime)}`, decompress: false }]
        : []),
      ...plan.attachments.map((p) => ({
        path: p,
        label: basename(p),
        decompress: p.toLowerCase().endsWith(".zip"),
      })),
    ];
    const inputFiles = [];
    for (const u of await planUploads(factory, client, uploads)) {
      const file = u.existing ?? (await upload(factory, client, u.path, u.label));
      inputFiles.push({ id: String(file.id), decompress: u.decompress });
      uploaded.push({ label: u.label, fileId: String(file.id), reused: u.existing !== undefined });
    }
    const job = await createJob(
      client,
      {
        name: plan.name,
        analysis: { code: plan.software.code, version: plan.software.versionCode },
        command: `sh ${BOOTSTRAP_FILE_NAME}`,
        hardware: {
          coreType: plan.coreType.code,
          cores: plan.cores,
          walltime: plan.walltime.hours,
          type: plan.jobType,
        },
        inputFiles,
        flags: plan.jobType === "interactive" ? { igCv: true, runForever: true } : undefined,
        priority: plan.priority.tier,
        cidrRule: plan.cidrRule ?? undefined,
        projectId: plan.project?.id,
      },
      factory.signal,
    );
    jobId = String(job.id);
    await client.jobs.submit(jobId, { signal: factory.signal });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { jobId, uploaded };
}

/** One input file of a launched job: uploaded now, or an earlier upload with the same content reused. */
interface UploadedInput {
  label: string;
  fileId: string;
  reused: boolean;
}

async function followAfterLaunch(
  factory: Factory,
  target: Target,
  plan: Plan,
  options: SubmitOptions,
  dataset: InspectedDataset,
  jobId: string,
  uploaded: UploadedInput[],
): Promise<number> {
  const { out } = factory;
  const { client } = target;
  const flag = profileFlag(factory);
  out.note(`${out.c.green("submitted")} job ${out.c.bold(jobId)} on ${target.label}`);
  if (options.detach) {
    const hint = reattachHint(jobId, flag);
    out.result(
      {
        schema: SUBMIT_SCHEMA,
        jobId,
        detached: true,
        plan,
        reattach: hint.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()),
      },
      () => {
        out.line(`job ${jobId} submitted. Re-attach with:`);
        out.line(hint);
      },
    );
    if (out.json) out.note(`job ${jobId} submitted. Re-attach with:\n${hint}`);
    return ExitCode.Success;
  }

  const printLine = (line: string) => (out.json ? out.io.stderr : out.io.stdout).write(`${line}\n`);
  const started = factory.now();
  const poll = pollMs(options.poll, target.kind);
  const result = await followJob(client, jobId, {
    pollMs: poll,
    stopGraceMs: 5 * poll,
    signal: factory.signal,
    onLine: (line) => {
      out.clearStatus();
      printLine(line);
    },
    onStatus: (s, elapsed) =>
      out.status(
        `${out.c.cyan("⏳")} job ${jobId}: ${s?.status ?? "Pending"} (${formatDuration(elapsed)})`,
        s?.status,
      ),
    // Only Rescale keeps a runForever workstation up after its command; the local platform ends the job itself.
    stopAfterRunnerExit: target.kind === "rescale" && plan.jobType === "interactive" && !options.keepRunning,
    onStopRequested: () =>
      out.note(`training finished; stopping workstation ${jobId} so its outputs are synced`),
    onLogUnavailable: (reason) => {
      out.clearStatus();
      out.note(`log not available yet: ${reason}`);
    },
  });
  out.clearStatus();

  if (result.detached) return interrupted(factory, target, jobId, options);

  const outDir = resolve(factory.io.cwd, options.out ?? `rescale-run-${jobId}`);
  // A workstation this command stopped after training ends "Completed" with a stop reason: the runner decides.
  const stoppedByUs = result.stopRequested && result.runnerExit !== undefined;
  const jobSucceeded = stoppedByUs ? result.runnerExit === 0 : result.outcome.succeeded;
  const expected = jobSucceeded ? [PROCESS_OUTPUT_LOG, ...RUNNER_OUTPUTS] : [PROCESS_OUTPUT_LOG];
  const files = await downloadFinalOutputs(client, jobId, outDir, out, {
    signal: factory.signal,
    expected,
    pollMs: poll,
  });
  // ...and the runner itself must say it finished (run.json), not just the job's command exit 0.
  const completion = jobSucceeded ? await runnerCompletion(outDir, RUNNER_OUT) : undefined;
  const succeeded = jobSucceeded && completion?.finished === true;
  const summary = await readRunMetrics(metricsCandidates(outDir, RUNNER_OUT));
  const line = summary ? metricsLine(summary) : null;
  const reason =
    (result.latest?.statusReason ?? "") + (completion?.finished === false ? `, but ${completion.why}` : "");
  out.result(
    {
      schema: SUBMIT_SCHEMA,
      jobId,
      succeeded,
      status: result.latest?.status,
      statusReason: reason,
      runnerExit: result.runnerExit,
      outcome: result.outcome.phase,
      uploads: uploaded,
      out: outDir,
      files,
      metrics: summary,
      elapsedSeconds: Math.round((factory.now() - started) / 1000),
      synthetic: dataset.synthetic,
    },
    () => {
      out.line();
      out.line(
        succeeded
          ? `${out.c.green("✓")} job ${jobId} ${result.latest?.status}: ${reason}${stoppedByUs ? " (runner exit 0)" : ""}`
          : `${out.c.red("✗")} job ${jobId} ${result.latest?.status}: ${reason || "no reason given"}${result.runnerExit !== undefined ? ` (runner exit ${result.runnerExit})` : ""}`,
      );
      if (summary && line) {
        out.line(`test split${dataset.synthetic ? " (SYNTHETIC data)" : ""}: ${line}`);
        for (const l of perClassLines(summary)) out.line(l);
      }
      out.line(`${files.length} output files in ${outDir}`);
    },
  );
  return succeeded ? ExitCode.Success : ExitCode.JobFailed;
}

async function interrupted(
  factory: Factory,
  target: Target,
  jobId: string,
  options: SubmitOptions,
): Promise<number> {
  const { out } = factory;
  if (options.stopOnInterrupt) {
    await target.client.jobs.stop(jobId);
    out.note(`interrupted: stop requested for job ${jobId}.`);
    return ExitCode.Interrupted;
  }
  if (target.inProcess) {
    out.note(
      `interrupted: the local platform ran inside this command, so job ${jobId} ends with it (recorded as "Platform shut down").\n` +
        "Use `rescale-run local start` first to keep jobs running after the command exits.",
    );
    return ExitCode.Interrupted;
  }
  out.note(
    `detached: job ${jobId} keeps running. Re-attach with:\n${reattachHint(jobId, profileFlag(factory))}`,
  );
  return ExitCode.Interrupted;
}
