import { type CommandSpec, defineCommand } from "../factory.js";

const softwareListSpec = defineCommand({
  command: "list",
  describe: "Software (analyses) and their versions; --software CODE[:VERSION] picks one for submit",
  builder: (y) =>
    y
      .option("search", { type: "string", describe: "Only analyses whose code or name contains this" })
      .example("$0 software list --search conda", "Miniconda tiles and their version codes"),
  async run(options, factory) {
    const { client } = await factory.target();
    const needle = (options.search ?? "").toLowerCase();
    const analyses = (await client.analyses.list({ pageSize: 100 })).filter(
      (a) => !needle || a.code.toLowerCase().includes(needle) || a.name.toLowerCase().includes(needle),
    );
    factory.out.result(analyses, () =>
      factory.out.table(analyses, [
        { header: "CODE", value: (a) => a.code },
        { header: "NAME", value: (a) => a.name },
        {
          header: "VERSIONS (display=code)",
          value: (a) =>
            a.versions
              .slice(0, 6)
              .map((v) => (v.version === v.versionCode ? v.version : `${v.version}=${v.versionCode}`))
              .join(", ") + (a.versions.length > 6 ? ", ..." : ""),
        },
      ]),
    );
  },
});

export const softwareCommand: CommandSpec = {
  command: "software",
  describe: "Software available to jobs",
  subcommands: [softwareListSpec],
};
