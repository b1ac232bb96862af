/**
 * The dashboard's pages as HTML strings: pure functions of what data.ts fetched. Every value goes through the
 * `html` template's escaping; the only script is the job page's poller, which sets textContent only.
 */
import type {
  CoreType,
  CoreTypeComparison,
  CoreTypeComparisonRow,
  JobStatusEntry,
  RescaleFile,
} from "@rescale-run/sdk";
import { type connectionDetails, time } from "../commands/jobs.js";
import { gb, money } from "../format.js";
import { formatBytes } from "../output.js";
import type { Plan } from "../plan.js";
import { planRows } from "../render-plan.js";
import type { ExplorerQuery, JobRow, JobsPage } from "./data.js";
import { isPlot, REPORT_FILE } from "./data.js";
import { html, type SafeHtml, scriptJson, trusted } from "./html.js";
import { CSRF_FIELD } from "./security.js";

export interface PageContext {
  /** e.g. "local platform (in this process, http://127.0.0.1:...)"; never holds a key. */
  platform: string;
  csrf: string;
  nonce: string;
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f4f6f9}
header{background:#0f3054;color:#fff;display:flex;align-items:center;gap:24px;padding:0 24px;height:52px}
header b{font-size:17px}header nav a{color:#cfe0f5;text-decoration:none;margin-right:18px;padding:16px 0}
header nav a.on{color:#fff;border-bottom:3px solid #4fa3ff}header .platform{margin-left:auto;font-size:12px;opacity:.8}
main{padding:18px 24px 48px}h1{font-size:20px;margin:0 0 14px}h2{font-size:16px;margin:18px 0 8px}
.panel{background:#fff;border:1px solid #dce2ea;border-radius:6px;padding:14px 18px;margin-bottom:16px}
table{border-collapse:collapse;width:100%;background:#fff;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e5e9ef;padding:6px 10px;text-align:left;white-space:nowrap}
thead th{background:#eef2f7;font-weight:600}thead th a{color:inherit}td.num,th.num{text-align:right}
tr.rec td{background:#e6f4ea}.status{font-weight:600}.running{color:#0b62c4}.succeeded{color:#1c7c36}.failed{color:#b3261e}
.muted{color:#6b7585}pre.log{background:#10161f;color:#d8e1ec;padding:10px;max-height:360px;overflow:auto;font-size:12px;white-space:pre-wrap}
form.grid{display:grid;grid-template-columns:180px minmax(240px,460px);gap:8px 14px;align-items:center}
form.grid label{font-weight:600}input,select,textarea{font:inherit;padding:5px 7px;border:1px solid #b9c3d0;border-radius:4px;width:100%}
button,.button{font:inherit;background:#0b62c4;color:#fff;border:none;border-radius:4px;padding:7px 16px;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#5a6778}button.danger,.button.danger{background:#b3261e}
.error{background:#fdecea;border:1px solid #f5c2bd;color:#7d1b14;padding:10px 14px;border-radius:6px;margin-bottom:14px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{max-width:420px;width:100%;border:1px solid #dce2ea;background:#fff}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin-bottom:12px}.filters label{display:block;font-size:12px;color:#556}
.filters input,.filters select{width:140px}dl.kv{display:grid;grid-template-columns:170px 1fr;gap:4px 12px;margin:0}dl.kv dt{font-weight:600}dl.kv dd{margin:0}
`;

type Tab = "workstations" | "new" | "coretypes";

export function layout(
  ctx: PageContext,
  tab: Tab | null,
  title: string,
  body: SafeHtml,
  script?: SafeHtml,
): string {
  const link = (t: Tab, href: string, text: string) =>
    html`<a href="${href}" class="${tab === t ? "on" : ""}">${text}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · rescale-run</title><style>${trusted(STYLE)}</style></head>
<body><header><b>rescale-run</b><nav>${link("workstations", "/workstations", "Workstations")}${link("new", "/new", "New workstation")}${link("coretypes", "/coretypes", "Coretype Explorer")}</nav>
<span class="platform" id="platform">${ctx.platform}</span></header>
<main>${body}</main>${script ? html`<script nonce="${ctx.nonce}">${script}</script>` : ""}</body></html>
`.text;
}

function hours(h: number | null): string {
  if (h === null) return "-";
  const whole = Math.floor(h);
  const minutes = Math.round((h - whole) * 60);
  return whole ? `${whole}h${String(minutes).padStart(2, "0")}m` : `${minutes}m`;
}

function statusCell(r: Pick<JobRow, "status" | "reason" | "outcome">): SafeHtml {
  return html`<span class="status ${r.outcome}" title="${r.reason}">${r.status || "Pending"}</span>`;
}

export function workstationsPage(ctx: PageContext, data: JobsPage): string {
  const rows = data.rows.map(
    (
      r,
    ) => html`<tr data-job="${r.id}"><td><a href="/workstations/${encodeURIComponent(r.id)}">${r.id}</a></td><td>${r.name}</td>
<td>${r.type === "interactive" ? "workstation" : r.type || "-"}</td><td>${statusCell(r)}</td><td>${r.coreType}</td>
<td class="num">${r.cores}</td><td class="num">${r.walltimeHours === null ? "-" : `${r.walltimeHours} h`}</td>
<td class="num">${hours(r.walltimeLeftHours)}</td><td class="num">${money(r.costSoFar)}</td><td>${time(r.created)}</td></tr>`,
  );
  const pager = html`<p>${data.page > 1 ? html`<a href="/workstations?page=${data.page - 1}">newer</a> ` : ""}${data.hasMore ? html`<a href="/workstations?page=${data.page + 1}">older</a>` : ""}</p>`;
  const body = html`<h1>Workstations</h1>
${
  data.rows.length
    ? html`<table id="jobs"><thead><tr><th>ID</th><th>Name</th><th>Type</th><th>Status</th><th>Core type</th><th class="num">Cores</th>
<th class="num">Walltime</th><th class="num">Walltime left</th><th class="num">Cost so far</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table>
<p class="muted">Cost so far: price per core-hour of the job's tier x cores x hours since it started executing (an estimate, platform currency).</p>${pager}`
    : html`<div class="panel">No jobs yet. <a href="/new">Start a workstation</a>.</div>`
}`;
  return layout(ctx, "workstations", "Workstations", body);
}

export interface JobPageData {
  row: JobRow;
  statuses: JobStatusEntry[];
  files: RescaleFile[];
  /** undefined: not Executing; null: no reachable node yet (jobs.ts connectionDetails). */
  connect: Awaited<ReturnType<typeof connectionDetails>> | undefined;
  log: string[];
  kind: "rescale" | "local";
}

export function jobPage(ctx: PageContext, d: JobPageData): string {
  const { row } = d;
  const id = encodeURIComponent(row.id);
  const fileHref = (f: RescaleFile) => `/workstations/${id}/files/${encodeURIComponent(String(f.id))}`;
  const report = d.files.find((f) => f.name === REPORT_FILE);
  const plots = d.files.filter(isPlot);
  const c = d.connect;
  const connect =
    c === undefined
      ? html`<p class="muted">Connect details appear while the workstation is Executing.</p>`
      : c === null
        ? html`<p class="muted">The platform reports no reachable node yet.</p>`
        : html`<dl class="kv"><dt>node</dt><dd>${c.host}${c.ip && c.ip !== c.host ? ` (${c.ip})` : ""}</dd>
${c.sshCommand ? html`<dt>ssh</dt><dd><code>${c.sshCommand}</code></dd>` : ""}${c.desktopUrl ? html`<dt>desktop</dt><dd><a href="${c.desktopUrl}" rel="noreferrer" target="_blank">${c.desktopUrl}</a></dd>` : ""}</dl>`;
  const body = html`<h1>${row.name} <span class="muted">(job ${row.id})</span></h1>
<div class="panel"><dl class="kv">
<dt>Status</dt><dd><span id="status" class="status ${row.outcome}">${row.status || "Pending"}</span> <span id="reason" class="muted">${row.reason}</span></dd>
<dt>Hardware</dt><dd>${row.cores} x ${row.coreType} (${row.type === "interactive" ? "workstation" : row.type})</dd>
<dt>Walltime</dt><dd>${row.walltimeHours === null ? "-" : `${row.walltimeHours} h`}, left: <span id="walltime-left">${hours(row.walltimeLeftHours)}</span></dd>
<dt>Cost so far</dt><dd><span id="cost">${money(row.costSoFar)}</span> <span class="muted">(${money(row.pricePerHour)} per hour)</span></dd>
<dt>Created</dt><dd>${time(row.created)}</dd></dl>
${row.outcome === "running" ? html`<p><a class="button danger" id="stop" href="/workstations/${id}/stop">Stop…</a></p>` : ""}</div>
<h2>Connect</h2><div class="panel" id="connect">${connect}${d.kind === "local" ? html`<p class="muted">Local platform: the workstation is a process on this machine.</p>` : ""}</div>
<h2>Log</h2><pre class="log" id="log">${d.log.join("\n")}</pre>
<h2>Outputs</h2><div class="panel" id="outputs">${
    d.files.length === 0
      ? html`<p class="muted">No output files yet: they appear when the job ends.</p>`
      : html`${report ? html`<p><a class="button" id="report" href="/workstations/${id}/report" target="_blank">Open report.html</a></p>` : ""}
<div class="plots">${plots.map((f) => html`<figure><img src="${fileHref(f)}?inline=1" alt="${f.name}"><figcaption>${f.relativePath || f.name}</figcaption></figure>`)}</div>
<table><thead><tr><th>File</th><th class="num">Size</th></tr></thead><tbody>${d.files.map(
          (f) =>
            html`<tr><td><a href="${fileHref(f)}" download>${f.relativePath || f.name}</a></td><td class="num">${typeof f.decryptedSize === "number" ? formatBytes(f.decryptedSize) : "-"}</td></tr>`,
        )}</tbody></table>`
  }</div>
<h2>Timeline</h2><table id="timeline"><thead><tr><th>Time</th><th>Status</th><th>Reason</th></tr></thead><tbody>${[
    ...d.statuses,
  ]
    .reverse()
    .map(
      (s) =>
        html`<tr><td>${time(s.statusDate)}</td><td>${s.status}</td><td>${s.statusReason ?? ""}</td></tr>`,
    )}</tbody></table>`;
  const script =
    row.outcome === "running"
      ? html`const job = ${scriptJson(row.id)};
const set = (id, text) => { const el = document.getElementById(id); if (el && el.textContent !== text) el.textContent = text; };
async function poll() {
  try {
    const r = await fetch("/api/jobs/" + encodeURIComponent(job) + "/live", { credentials: "same-origin" });
    if (r.ok) {
      const d = await r.json();
      set("status", d.status || "Pending"); set("reason", d.reason || ""); set("walltime-left", d.walltimeLeft); set("cost", d.costSoFar);
      document.getElementById("status").className = "status " + d.outcome;
      const log = document.getElementById("log"); const text = d.log.join("\\n");
      if (log.textContent !== text) { log.textContent = text; log.scrollTop = log.scrollHeight; }
      if (d.outcome !== "running") { location.reload(); return; }
    }
  } catch {}
  setTimeout(poll, 2000);
}
setTimeout(poll, 2000);`
      : undefined;
  return layout(ctx, "workstations", `Job ${row.id}`, body, script);
}

export function stopPage(ctx: PageContext, row: JobRow): string {
  const id = encodeURIComponent(row.id);
  const body = html`<h1>Stop ${row.name} (job ${row.id})?</h1>
<div class="panel"><p>The workstation is ${row.status || "Pending"}. Stopping ends it now instead of at its walltime; its outputs are kept, and it cannot be restarted.</p>
<form method="post" action="/workstations/${id}/stop"><input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">
<button class="danger" id="confirm-stop" type="submit">Stop job ${row.id}</button> <a href="/workstations/${id}">Cancel</a></form></div>`;
  return layout(ctx, "workstations", `Stop job ${row.id}`, body);
}

/** The New workstation form's fields, as strings (what the browser sends back). */
export interface NewForm {
  name: string;
  data: string;
  attach: string;
  software: string;
  coreType: string;
  cores: string;
  walltime: string;
  priority: string;
  allowIp: string;
  epochs: string;
  runnerArgs: string;
}

export const EMPTY_FORM: NewForm = {
  name: "",
  data: "",
  attach: "",
  software: "",
  coreType: "",
  cores: "2",
  walltime: "1h",
  priority: "on-demand-priority",
  allowIp: "",
  epochs: "",
  runnerArgs: "",
};

export interface NewPageData {
  form: NewForm;
  coreTypes: CoreType[];
  software: { code: string; name: string }[];
  priorities: string[];
  plan: Plan | null;
  error: { message: string; hint?: string } | null;
}

export function newPage(ctx: PageContext, d: NewPageData): string {
  const f = d.form;
  const input = (name: keyof NewForm, label: string, attrs: SafeHtml = html``) =>
    html`<label for="${name}">${label}</label><input id="${name}" name="${name}" value="${f[name]}" ${attrs}>`;
  const select = (name: keyof NewForm, label: string, options: { value: string; text: string }[]) =>
    html`<label for="${name}">${label}</label><select id="${name}" name="${name}">${options.map(
      (choice) =>
        html`<option value="${choice.value}"${choice.value === f[name] ? html` selected` : ""}>${choice.text}</option>`,
    )}</select>`;
  const plan = d.plan
    ? html`<div class="panel" id="plan"><h2>Plan</h2><dl class="kv">${planRows(d.plan).map(
        ([k, v]) => html`<dt>${k}</dt><dd data-row="${k}">${v}</dd>`,
      )}</dl><p><b>Maximum cost: <span id="max-cost">${money(d.plan.maxCost)}</span></b> <span class="muted">(the same plan as <code>rescale-run submit --dry-run</code>)</span></p></div>`
    : "";
  const error = d.error
    ? html`<div class="error" id="error"><b>${d.error.message}</b>${d.error.hint ? html`<br>${d.error.hint}` : ""}</div>`
    : "";
  const body = html`<h1>New workstation</h1>${error}
<div class="panel"><form class="grid" method="post" action="/new" id="new-form"><input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">
${input("name", "Name", html`placeholder="rescale-run <dataset>"`)}
${input("data", "Dataset", html`placeholder="folder or zip on this machine (empty: SYNTHETIC demo)"`)}
<label for="attach">Attachments</label><textarea id="attach" name="attach" rows="2" placeholder="one file per line">${f.attach}</textarea>
${select("software", "Software", [{ value: "", text: "default" }, ...d.software.map((s) => ({ value: s.code, text: `${s.name} (${s.code})` }))])}
${select("coreType", "Core type", [{ value: "", text: "cheapest offering the cores" }, ...d.coreTypes.map((t) => ({ value: t.code, text: `${t.name} (${t.code}): ${t.cores.join(", ")} cores` }))])}
${input("cores", "Cores", html`inputmode="numeric"`)}
${input("walltime", "Walltime", html`placeholder="8h, 90m, 1d12h"`)}
${select(
  "priority",
  "Priority",
  d.priorities.map((p) => ({ value: p, text: p })),
)}
${input("allowIp", "Allowed IP", html`placeholder="203.0.113.7 or CIDR (empty: any; 'auto' on the local platform)"`)}
${input("epochs", "Epochs", html`placeholder="runner default"`)}
${input("runnerArgs", "Runner options", html`placeholder="e.g. --cv-folds=0 --views=1"`)}
<span></span><div><button type="submit" name="action" value="plan" class="secondary" id="show-plan">Show plan</button>
<button type="submit" name="action" value="submit" id="submit">Submit</button></div></form></div>${plan}`;
  return layout(ctx, "new", "New workstation", body);
}

const SORTS: { key: string; label: string; num?: boolean }[] = [
  { key: "name", label: "Core type" },
  { key: "coresPerNode", label: "Cores/node", num: true },
  { key: "memoryPerNode", label: "Memory/node", num: true },
  { key: "", label: "Storage/node", num: true },
  { key: "gpusPerNode", label: "GPUs/node", num: true },
  { key: "price", label: "On-demand priority /h", num: true },
  { key: "priceEconomy", label: "On-demand /h", num: true },
];

export function explorerPage(
  ctx: PageContext,
  q: ExplorerQuery & { walltime: string },
  cmp: CoreTypeComparison,
): string {
  const query = (sort: string) => {
    const p = new URLSearchParams({ walltime: q.walltime, priority: q.priority, filter: q.filter, sort });
    if (q.cores) p.set("cores", String(q.cores));
    if (q.minMemoryGB !== undefined) p.set("minMemory", String(q.minMemoryGB));
    if (q.minGpus !== undefined) p.set("minGpus", String(q.minGpus));
    if (sort === q.sortBy && !q.descending) p.set("desc", "1");
    return `/coretypes?${p}`;
  };
  const head = SORTS.map((s) =>
    s.key
      ? html`<th class="${s.num ? "num" : ""}"><a href="${query(s.key)}">${s.label}${s.key === q.sortBy ? (q.descending ? " ▼" : " ▲") : ""}</a></th>`
      : html`<th class="num">${s.label}</th>`,
  );
  const rec = cmp.recommendation;
  const row = (
    r: CoreTypeComparisonRow,
  ) => html`<tr data-code="${r.code}" class="${r.code === rec?.code ? "rec" : ""}">
<td>${r.name} <span class="muted">${r.code}</span></td><td class="num">${r.nodes > 1 ? `${r.coresPerNode} x ${r.nodes} nodes` : r.coresPerNode}</td>
<td class="num">${gb(r.memoryPerNodeGB)}</td><td class="num">${gb(r.storagePerNodeGB)}</td><td class="num">${r.gpusPerNode ?? "-"}</td>
<td class="num" data-price="onDemandPriority">${money(r.prices.onDemandPriority?.perHour)}</td><td class="num" data-price="onDemandEconomy">${money(r.prices.onDemandEconomy?.perHour)}</td>
<td class="num" data-cost>${money(r.prices[cmp.recommendTier]?.walltimeCost)}</td><td>${r.meetsMinimums ? "" : r.shortfalls.join("; ")}</td></tr>`;
  const body = html`<h1>Coretype Explorer</h1>
<form class="filters" method="get" action="/coretypes">
<div><label for="filter">Filter</label><input id="filter" name="filter" value="${q.filter}" placeholder="name, code, CPU"></div>
<div><label for="cores">Cores</label><input id="cores" name="cores" value="${q.cores ?? ""}" placeholder="smallest node"></div>
<div><label for="walltime">Walltime</label><input id="walltime" name="walltime" value="${q.walltime}"></div>
<div><label for="minMemory">Min memory/node GB</label><input id="minMemory" name="minMemory" value="${q.minMemoryGB ?? ""}"></div>
<div><label for="minGpus">Min GPUs/node</label><input id="minGpus" name="minGpus" value="${q.minGpus ?? ""}"></div>
<div><label for="priority">Priced in</label><select id="priority" name="priority">${(
    ["onDemandPriority", "onDemandEconomy"] as const
  ).map(
    (t) =>
      html`<option value="${t}"${t === q.priority ? html` selected` : ""}>${t === "onDemandPriority" ? "on-demand priority" : "on-demand"}</option>`,
  )}</select></div><input type="hidden" name="sort" value="${q.sortBy}"><div><button type="submit">Apply</button></div></form>
<div class="panel" id="recommendation">${
    rec
      ? html`Recommended (as <code>rescale-run coretypes compare</code>): <b>${rec.name}</b> (${rec.code}), ${money(rec.prices[cmp.recommendTier]?.walltimeCost)} for ${cmp.walltimeHours} h.`
      : html`No core type meets the minimums.`
  }</div>
<table id="coretypes"><thead><tr>${head}<th class="num">Cost of ${cmp.walltimeHours} h</th><th>Note</th></tr></thead><tbody>${cmp.rows.map(row)}</tbody></table>
<p class="muted">Prices per hour for the node's cores; the cost is in the chosen tier, platform currency.</p>`;
  return layout(ctx, "coretypes", "Coretype Explorer", body);
}

export function errorPage(ctx: PageContext | null, title: string, message: string, hint?: string): string {
  const body = html`<h1>${title}</h1><div class="error"><b>${message}</b>${hint ? html`<br>${hint}` : ""}</div><p><a href="/workstations">Workstations</a></p>`;
  return ctx
    ? layout(ctx, null, title, body)
    : html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`
        .text;
}
