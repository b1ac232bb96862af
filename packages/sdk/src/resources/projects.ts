/** Projects: the user's projects (`GET /api/v2/users/me/projects/`), which a workspace may require on every job. */
import { NotFoundError } from "../errors.js";
import { collect, type PageOptions, paginate } from "../paginate.js";
import { type Project, projectSchema } from "../schemas.js";
import type { Transport } from "../transport.js";

const MY_PROJECTS = "/api/v2/users/me/projects/";

export class ProjectsResource {
  constructor(private readonly transport: Transport) {}

  /** The projects the user may put jobs in (paged or a bare list; both are read). */
  list(options: PageOptions = {}): Promise<Project[]> {
    return collect(paginate(this.transport, MY_PROJECTS, projectSchema, { pageSize: 100, ...options }));
  }

  /** The project with this id, else with this name (case-insensitive); a NotFoundError lists what exists. */
  async resolve(idOrName: string, options: PageOptions = {}): Promise<Project> {
    const wanted = idOrName.trim();
    const all = await this.list(options);
    const found =
      all.find((p) => p.id === wanted) ??
      all.find((p) => (p.name ?? "").toLowerCase() === wanted.toLowerCase());
    if (found) return found;
    const names = all.map((p) => `${p.name ?? "(unnamed)"} (${p.id})`).join(", ");
    throw new NotFoundError(`No project "${idOrName}" among yours. Yours: ${names || "none"}.`, {
      method: "GET",
      path: MY_PROJECTS,
    });
  }
}
