import { describe, expect, it } from "vitest";
import {
  type ClusterStatusEntry,
  classifyJobOutcome,
  JobFailedError,
  type JobStatusEntry,
  type JobStatusSource,
  pollDelay,
  ServerError,
  TimeoutError,
  waitForJobStatus,
  waitUntilActive,
  waitUntilFinished,
} from "../src/index.js";

const fast = { minDelayMs: 1, maxDelayMs: 2, jitter: 0 };

function entry(status: string, minute: number, statusReason: string | null = null): JobStatusEntry {
  return { status, statusDate: new Date(Date.UTC(2026, 10, 25, 11, minute)), statusReason };
}

/** A job whose status history grows by one entry per poll (newest first, as the API answers). */
function scripted(
  steps: Array<[string, string | null]>,
  cluster: string[] = [],
): JobStatusSource & { polls: number } {
  const source = {
    polls: 0,
    async statuses(): Promise<JobStatusEntry[]> {
      const upto = Math.min(source.polls++, steps.length - 1);
      return steps
        .slice(0, upto + 1)
        .map(([status, reason], i) => entry(status, i, reason))
        .reverse();
    },
    async clusterStatuses(): Promise<ClusterStatusEntry[]> {
      const status = cluster.shift() ?? "Started";
      return [{ status, statusDate: new Date() }];
    },
  };
  return source;
}

describe("classifyJobOutcome", () => {
  it("treats Completed as success only with a success reason", () => {
    expect(
      classifyJobOutcome([entry("Completed", 9, "Completed successfully"), entry("Executing", 5)]),
    ).toMatchObject({
      phase: "succeeded",
      terminal: true,
      succeeded: true,
    });
    for (const reason of [
      "A run failed",
      "Exceeded max number of restarts",
      "Could not allocate compute resources from the compute provider",
      null,
    ]) {
      expect(classifyJobOutcome([entry("Completed", 9, reason), entry("Executing", 5)])).toMatchObject({
        phase: "failed",
        terminal: true,
        succeeded: false,
        statusReason: reason ?? undefined,
      });
    }
  });

  it("recognises stopped jobs, running, stopping, starting and no status", () => {
    expect(
      classifyJobOutcome([
        entry("Completed", 9, "Stopped by user"),
        entry("Stopping", 8),
        entry("Executing", 5),
      ]).phase,
    ).toBe("stopped");
    expect(classifyJobOutcome([entry("Executing", 5), entry("Queued", 1)]).phase).toBe("running");
    expect(classifyJobOutcome([entry("Force Stop", 6)]).phase).toBe("stopping");
    expect(classifyJobOutcome([entry("Waiting for Cluster", 2)]).phase).toBe("starting");
    expect(classifyJobOutcome([])).toMatchObject({ phase: "pending", terminal: false });
  });

  it("reads a failure on the Stopping entry, as Rescale records it (nf-rescale-hpc): failed, not stopped", () => {
    const failed = classifyJobOutcome([
      entry("Completed", 9, null),
      entry("Stopping", 8, "A run failed"),
      entry("Executing", 5),
    ]);
    expect(failed).toMatchObject({
      phase: "failed",
      terminal: true,
      succeeded: false,
      statusReason: "A run failed",
    });
    // even when the Completed entry's own reason reads like success
    expect(
      classifyJobOutcome([
        entry("Completed", 9, "Completed successfully"),
        entry("Stopping", 8, "A run failed"),
        entry("Executing", 5),
      ]).phase,
    ).toBe("failed");
    const userStop = classifyJobOutcome([
      entry("Completed", 9, null),
      entry("Stopping", 8, "User Terminated"),
      entry("Executing", 5),
    ]);
    expect(userStop).toMatchObject({ phase: "stopped", succeeded: false, statusReason: "User Terminated" });
    // a Force Stop is the user's stop too (the CLI's own copy once called it a failure)
    expect(
      classifyJobOutcome([entry("Completed", 9, null), entry("Force Stop", 8), entry("Executing", 5)]).phase,
    ).toBe("stopped");
    expect(classifyJobOutcome([entry("Completed", 9, "User Terminated"), entry("Executing", 5)]).phase).toBe(
      "stopped",
    );
  });

  it("orders by date, not by position", () => {
    expect(
      classifyJobOutcome([entry("Executing", 5), entry("Completed", 9, "Completed successfully")]).phase,
    ).toBe("succeeded");
  });
});

describe("pollDelay", () => {
  it("grows exponentially, caps, and jitters within bounds", () => {
    const options = { minDelayMs: 1000, maxDelayMs: 5000, factor: 2, jitter: 0.2 };
    expect(pollDelay(1, options, () => 0.5)).toBe(1000);
    expect(pollDelay(3, options, () => 0.5)).toBe(4000);
    expect(pollDelay(10, options, () => 0.5)).toBe(5000);
    expect(pollDelay(1, options, () => 0)).toBe(800);
    expect(pollDelay(1, options, () => 1)).toBe(1200);
  });
});

describe("waiters", () => {
  it("waitUntilFinished returns a failure for Completed + failure reason, reporting progress", async () => {
    const job = scripted([
      ["Queued", null],
      ["Executing", null],
      ["Completed", "A run failed"],
    ]);
    const seen: string[] = [];
    const result = await waitUntilFinished(job, "J", {
      ...fast,
      onPoll: (p) => seen.push(p.outcome.status ?? ""),
    });
    expect(result.outcome).toMatchObject({ phase: "failed", statusReason: "A run failed" });
    expect(seen).toEqual(["Queued", "Executing", "Completed"]);
    const again = scripted([["Completed", "A run failed"]]);
    await expect(waitUntilFinished(again, "J", { ...fast, throwOnFailure: true })).rejects.toBeInstanceOf(
      JobFailedError,
    );
  });

  it("waitUntilActive waits for Executing and a Started cluster", async () => {
    const job = scripted(
      [
        ["Queued", null],
        ["Executing", null],
      ],
      ["Starting", "Started"],
    );
    const result = await waitUntilActive(job, "J", fast);
    expect(result.clusterStatus).toBe("Started");
    expect(job.polls).toBe(3); // Queued, Executing + Starting, Executing + Started
  });

  it("waitUntilActive rejects when the job fails first", async () => {
    const job = scripted([
      ["Queued", null],
      ["Completed", "Could not allocate compute resources from the compute provider"],
    ]);
    await expect(waitUntilActive(job, "J", fast)).rejects.toThrow(
      /failed before becoming active: Could not allocate/,
    );
  });

  it("waitForJobStatus matches names and rejects a job that ends without matching", async () => {
    expect(
      (
        await waitForJobStatus(
          scripted([
            ["Queued", null],
            ["Executing", null],
          ]),
          "J",
          "Executing",
          fast,
        )
      ).outcome.status,
    ).toBe("Executing");
    await expect(
      waitForJobStatus(
        scripted([
          ["Queued", null],
          ["Completed", "Completed successfully"],
        ]),
        "J",
        ["Executing"],
        fast,
      ),
    ).rejects.toBeInstanceOf(JobFailedError);
  });

  it("times out with the last status in the message", async () => {
    const job = scripted([["Queued", null]]);
    await expect(waitUntilFinished(job, "J", { ...fast, minDelayMs: 20, timeoutMs: 60 })).rejects.toThrow(
      TimeoutError,
    );
    await expect(
      waitUntilFinished(scripted([["Queued", null]]), "J", { ...fast, timeoutMs: 30 }),
    ).rejects.toThrow(/job J is Queued/);
  });

  it("stops on abort", async () => {
    const controller = new AbortController();
    const promise = waitUntilFinished(scripted([["Queued", null]]), "J", {
      minDelayMs: 10_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);
    await expect(promise).rejects.toMatchObject({ name: "AbortError" });
  });

  it("tolerates a few transient errors (e.g. statuses answering 504)", async () => {
    let calls = 0;
    const flaky: JobStatusSource = {
      async statuses() {
        calls++;
        if (calls < 3) throw new ServerError("504", { status: 504 });
        return [entry("Completed", 9, "Completed successfully")];
      },
      async clusterStatuses() {
        return [];
      },
    };
    expect((await waitUntilFinished(flaky, "J", fast)).outcome.succeeded).toBe(true);
    const broken: JobStatusSource = {
      async statuses() {
        throw new ServerError("504", { status: 504 });
      },
      async clusterStatuses() {
        return [];
      },
    };
    await expect(waitUntilFinished(broken, "J", { ...fast, maxConsecutiveErrors: 2 })).rejects.toBeInstanceOf(
      ServerError,
    );
  });
});
