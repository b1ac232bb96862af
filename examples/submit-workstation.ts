/**
 * The seed's workstation, programmatically: upload attachments, create an interactive job with software tiles,
 * wait until it is active (with progress), print how to connect, and optionally stop it and list its outputs.
 *
 *   export RESCALE_API_KEY=... RESCALE_API_URL=https://platform.rescale.com   # or a profile in apiconfig
 *   npx tsx examples/submit-workstation.ts --core-type ruby --cores 4 --walltime 8h \
 *     --software miniconda_e2e:4.8.4_e2ed --attach busi.zip --attach notebook.ipynb --allow-ip 203.0.113.7
 *
 * Against the local platform (`rescale-run local start`), use `--core-type local --cores 1` and point
 * RESCALE_API_URL / RESCALE_API_KEY at it. Ctrl-C stops waiting (the workstation keeps running: --stop ends it).
 * In your own project import from "@rescale-run/sdk".
 */
import { parseArgs } from "node:util";
import { parseWalltime, RescaleClient, RescaleError, type SoftwareSpec } from "../packages/sdk/src/index.js";

const { values } = parseArgs({
  options: {
    name: { type: "string", default: "busi-notebook" },
    "core-type": { type: "string", default: "ruby" },
    cores: { type: "string", default: "4" },
    walltime: { type: "string", default: "8h" },
    software: { type: "string", multiple: true, default: ["miniconda_e2e:4.8.4_e2ed"] },
    attach: { type: "string", multiple: true, default: [] },
    "allow-ip": { type: "string" },
    command: { type: "string" },
    "timeout-minutes": { type: "string", default: "30" },
    stop: { type: "boolean", default: false },
    profile: { type: "string" },
  },
});

function parseSoftware(spec: string): SoftwareSpec {
  const [code, version] = spec.split(":");
  if (!code || !version)
    throw new RescaleError(`--software wants code:version, e.g. miniconda_e2e:4.8.4_e2ed; got "${spec}".`);
  return { code, version };
}

async function main(): Promise<void> {
  const walltime = parseWalltime(values.walltime ?? "8h");
  const client = await RescaleClient.fromEnvironment({ profile: values.profile });
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort(new Error("interrupted")));

  const coreType = await client.coreTypes.get(values["core-type"] ?? "ruby");
  console.log(
    `Platform ${client.baseUrl}; ${coreType.name} (${coreType.code}), ${values.cores} cores, ${walltime.text}`,
  );

  const workstation = await client.workstations.create({
    name: values.name ?? "busi-notebook",
    coreType: coreType.code,
    cores: Number(values.cores),
    walltime,
    software: (values.software ?? []).map(parseSoftware),
    attachments: values.attach ?? [],
    allowIp: values["allow-ip"],
    command: values.command,
    signal: controller.signal,
    onUploadProgress: (file, { loaded, total }) => {
      if (loaded === total) console.log(`uploaded ${file} (${loaded} bytes)`);
    },
  });
  console.log(`Workstation ${workstation.id} submitted; waiting until it is active...`);

  await workstation.waitUntilActive({
    signal: controller.signal,
    timeoutMs: Number(values["timeout-minutes"]) * 60_000,
    minDelayMs: 2000,
    maxDelayMs: 30_000,
    onPoll: ({ outcome, clusterStatus, elapsedMs }) =>
      console.log(
        `  ${Math.round(elapsedMs / 1000)} s: ${outcome.status ?? "no status yet"}${clusterStatus ? ` / cluster ${clusterStatus}` : ""}`,
      ),
  });
  const connection = await workstation.connection();
  console.log(`Active. Host ${connection.host}, user ${connection.user ?? "?"}`);
  console.log(connection.sshCommand ? `  ${connection.sshCommand}` : "  (this platform offers no SSH)");
  if (connection.desktopUrl) console.log(`  desktop: ${connection.desktopUrl}`);

  if (values.stop) {
    await workstation.stop();
    const { outcome } = await workstation.waitUntilFinished({ signal: controller.signal, minDelayMs: 2000 });
    console.log(`Stopped (${outcome.statusReason ?? outcome.status}). Outputs:`);
    for (const file of await workstation.outputs())
      console.log(`  ${file.name} (${file.decryptedSize ?? "?"} bytes)`);
  }
}

main().catch((error: unknown) => {
  console.error(
    error instanceof Error && !(error instanceof TypeError) ? `${error.name}: ${error.message}` : error,
  );
  process.exitCode = 1;
});
