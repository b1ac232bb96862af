/** `config set|list`: Rescale profiles in ~/.config/rescale/apiconfig (Rescale's own format), keys never shown. */
import {
  apiConfigPath,
  normalizeBaseUrl,
  REGIONAL_BASE_URLS,
  readProfiles,
  writeProfile,
} from "@rescale-run/sdk";
import { UsageError } from "../errors.js";
import { type CommandSpec, defineCommand } from "../factory.js";
import { readSecret } from "../secret.js";

const setSpec = defineCommand({
  command: "set",
  describe: "Save a Rescale API key (prompted without echo, or read from stdin) as a profile",
  builder: (y) =>
    y
      .option("name", { type: "string", default: "default", describe: "Profile name" })
      .option("region", {
        choices: Object.keys(REGIONAL_BASE_URLS),
        describe: "Platform region (default na)",
      })
      .option("base-url", { type: "string", describe: "Platform URL, e.g. https://eu.rescale.com" })
      .conflicts("region", "base-url")
      .example("$0 config set --region eu", "Prompts for the key; saves profile [default]")
      .example('printf %s "$KEY" | $0 config set --name work', "Key from stdin (never as an argument)"),
  async run(options, factory) {
    const baseUrl = normalizeBaseUrl(
      options.baseUrl ?? REGIONAL_BASE_URLS[(options.region as keyof typeof REGIONAL_BASE_URLS) ?? "na"],
    );
    const apiKey = await readSecret(factory.io, `Rescale API key for ${baseUrl} (input hidden): `);
    if (/\s/.test(apiKey)) throw new UsageError("The API key contains whitespace; paste only the key.");
    const { name } = options;
    const file = await writeProfile(name, { apiKey, apiBaseUrl: baseUrl }, apiConfigPath(factory.io.env));
    factory.out.result({ profile: name, baseUrl, file }, () => {
      factory.out.line(`saved profile [${name}] for ${baseUrl} in ${file} (mode 0600)`);
      factory.out.line(`use it with --profile ${name}, or export RESCALE_PROFILE=${name}`);
    });
  },
});

const listSpec = defineCommand({
  command: "list",
  describe: "Profiles in the apiconfig file (keys are never shown)",
  builder: (y) => y.example("$0 config list", "Names and platform URLs"),
  async run(_options, factory) {
    const file = apiConfigPath(factory.io.env);
    const profiles = await readProfiles(file);
    const rows = Object.entries(profiles).map(([name, p]) => ({
      name,
      baseUrl: p.apiBaseUrl,
      hasKey: Boolean(p.apiKey),
    }));
    factory.out.result({ file, profiles: rows }, () => {
      if (rows.length === 0)
        return factory.out.line(`no profiles in ${file}; add one with: rescale-run config set`);
      factory.out.table(rows, [
        { header: "PROFILE", value: (r) => r.name },
        { header: "PLATFORM", value: (r) => r.baseUrl },
        { header: "KEY", value: (r) => (r.hasKey ? "set (hidden)" : "missing") },
      ]);
    });
  },
});

export const configCommand: CommandSpec = {
  command: "config",
  describe: "Rescale API keys and platforms (profiles shared with Rescale's tools)",
  subcommands: [setSpec, listSpec],
};
