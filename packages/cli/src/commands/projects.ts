/** `projects`: the projects jobs may belong to (`GET /api/v2/users/me/projects/`); see `submit --project`. */
import { defineCommand } from "../factory.js";

export const projectsCommand = defineCommand({
  command: "projects",
  describe: "Your projects (some workspaces require every job to carry one: submit --project)",
  builder: (y) =>
    y
      .example("$0 projects", "Id and name of each project")
      .example('$0 submit --cores 4 --walltime 8h --project "Breast ultrasound"', "Submit into one"),
  async run(_options, factory) {
    const target = await factory.target();
    const projects = await target.client.projects.list();
    const rows = projects.map((p) => ({ id: p.id, name: p.name ?? null, code: p.code ?? null }));
    factory.out.result({ schema: 1, projects: rows }, () => {
      if (rows.length === 0) return factory.out.line("No projects: jobs go without one.");
      factory.out.table(rows, [
        { header: "ID", value: (r) => r.id },
        { header: "NAME", value: (r) => r.name ?? "-" },
      ]);
      if (target.project) factory.out.line(`default for submit (profile): ${target.project}`);
    });
  },
});
