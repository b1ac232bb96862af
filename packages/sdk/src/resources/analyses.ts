/** Software (analyses) and their versions. */
import { NotFoundError } from "../errors.js";
import { ListResource, type PageOptions } from "../paginate.js";
import { type Analysis, type AnalysisVersion, analysisSchema } from "../schemas.js";
import type { Transport } from "../transport.js";

const ANALYSES = "/api/v2/analyses/";

export interface ResolvedVersion {
  analysis: Analysis;
  version: AnalysisVersion;
  /** What a job must send as `analysis.version`. */
  versionCode: string;
}

/** THE software lookup: an analysis by code, else by display name (case-insensitive). Pure. */
export function matchAnalysis(analyses: readonly Analysis[], codeOrName: string): Analysis | undefined {
  const key = codeOrName.trim().toLowerCase();
  return (
    analyses.find((a) => a.code === codeOrName.trim()) ??
    analyses.find((a) => a.code.toLowerCase() === key) ??
    analyses.find((a) => a.name.toLowerCase() === key)
  );
}

/**
 * THE version lookup: by `versionCode`, else display version (exact, then case-insensitive); no `wanted`: the
 * first listed version. Pure.
 */
export function matchVersion(analysis: Analysis, wanted?: string): AnalysisVersion | undefined {
  if (wanted === undefined || wanted.trim() === "") return analysis.versions[0];
  const text = wanted.trim();
  return (
    analysis.versions.find((v) => v.versionCode === text) ??
    analysis.versions.find((v) => v.version === text) ??
    analysis.versions.find((v) => v.version.toLowerCase() === text.toLowerCase())
  );
}

export class AnalysesResource extends ListResource<typeof analysisSchema> {
  constructor(transport: Transport) {
    super(transport, ANALYSES, analysisSchema);
  }

  /** The analysis with this code (scans the paged list, stopping at the match). */
  async get(code: string, options: PageOptions = {}): Promise<Analysis> {
    for await (const analysis of this.iterate({ pageSize: 100, ...options })) {
      if (analysis.code === code) return analysis;
    }
    throw new NotFoundError(`No software (analysis) with code "${code}".`, { method: "GET", path: ANALYSES });
  }

  /**
   * Resolves a display version ("4.8.4") or a version code ("4.8.4_e2ed") of an analysis to the version code
   * a job must send; the API answers 400 "The specified version is not available." for a display name.
   */
  async resolveVersion(
    code: string,
    displayVersionOrCode: string,
    options: PageOptions = {},
  ): Promise<ResolvedVersion> {
    const analysis = await this.get(code, options);
    const version = matchVersion(analysis, displayVersionOrCode);
    if (!version) {
      const available = analysis.versions.map((v) => `${v.version} (${v.versionCode})`).join(", ");
      throw new NotFoundError(
        `Software "${analysis.name}" (${code}) has no version "${displayVersionOrCode}". Available: ${available || "none"}.`,
        { method: "GET", path: ANALYSES },
      );
    }
    return { analysis, version, versionCode: version.versionCode };
  }
}
