/** The client a user constructs: one transport shared by every resource. */
import { type ResolveConfigOptions, resolveConfig } from "./config.js";
import { AnalysesResource } from "./resources/analyses.js";
import { CoreTypesResource } from "./resources/coreTypes.js";
import { FilesResource } from "./resources/files.js";
import { JobsResource } from "./resources/jobs.js";
import { ProjectsResource } from "./resources/projects.js";
import { WorkstationsResource } from "./resources/workstations.js";
import { Transport, type TransportOptions } from "./transport.js";

export interface RescaleClientOptions extends TransportOptions {}

export interface FromEnvironmentOptions
  extends ResolveConfigOptions,
    Omit<TransportOptions, "apiKey" | "baseUrl"> {}

export class RescaleClient {
  readonly transport: Transport;
  readonly coreTypes: CoreTypesResource;
  readonly analyses: AnalysesResource;
  readonly files: FilesResource;
  readonly jobs: JobsResource;
  readonly workstations: WorkstationsResource;
  readonly projects: ProjectsResource;

  constructor(options: RescaleClientOptions) {
    this.transport = new Transport(options);
    this.coreTypes = new CoreTypesResource(this.transport);
    this.analyses = new AnalysesResource(this.transport);
    this.files = new FilesResource(this.transport);
    this.jobs = new JobsResource(this.transport);
    this.workstations = new WorkstationsResource(this.jobs, this.files, this.analyses);
    this.projects = new ProjectsResource(this.transport);
  }

  /** Normalised platform URL, e.g. `https://eu.rescale.com`. */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /**
   * Reads `RESCALE_API_KEY` + `RESCALE_API_URL`|`RESCALE_BASE_URL`, else a profile of the apiconfig INI file
   * (`options.profile`, `$RESCALE_PROFILE` or `default`). Throws ConfigurationError when nothing is set.
   */
  static async fromEnvironment(options: FromEnvironmentOptions = {}): Promise<RescaleClient> {
    const { profile, env, file, ...transport } = options;
    const config = await resolveConfig({ profile, env, file });
    return new RescaleClient({ ...transport, apiKey: config.apiKey, baseUrl: config.apiBaseUrl });
  }

  /** Never shows the key when a client is logged or inspected. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `RescaleClient { baseUrl: '${this.baseUrl}' }`;
  }
}
