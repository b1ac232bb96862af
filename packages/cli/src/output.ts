import pc from "picocolors";
import type { CliIo } from "./io.js";

export type Colors = ReturnType<typeof pc.createColors>;

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  align?: "left" | "right";
}

/**
 * Everything the CLI prints goes through here. Results go to stdout (a table or, with --json, one JSON document);
 * chatter (notes, progress, the status line) goes to stderr so `--json` output stays parseable.
 * Colour only when stderr/stdout is a TTY and NO_COLOR is not set.
 */
export class Output {
  readonly json: boolean;
  readonly c: Colors;
  readonly interactive: boolean;
  private statusShown = false;
  private lastStatus = "";

  constructor(
    readonly io: CliIo,
    options: { json?: boolean; color?: boolean } = {},
  ) {
    this.json = options.json ?? false;
    const tty = Boolean(io.stdout.isTTY);
    const color = options.color ?? (tty && !io.env.NO_COLOR && io.env.TERM !== "dumb");
    this.c = pc.createColors(color);
    this.interactive = Boolean(io.stderr.isTTY);
  }

  /** The command's result: JSON with --json, else the human rendering. */
  result(value: unknown, human: () => void): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else human();
  }

  /** A line of the human result (stdout). Suppressed with --json. */
  line(text = ""): void {
    if (this.json) return;
    this.clearStatus();
    this.io.stdout.write(`${text}\n`);
  }

  /** A note for the human at the terminal (stderr, so never mixed into --json output). */
  note(text: string): void {
    this.clearStatus();
    this.io.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.note(`${this.c.yellow("warning:")} ${text}`);
  }

  table<Row>(rows: Row[], columns: Column<Row>[]): void {
    this.line(renderTable(rows, columns, this.c));
  }

  /**
   * One line rewritten in place on a TTY; on a pipe, printed only when `key` (default: the text) changes, so a
   * ticking elapsed time does not flood a log file.
   */
  status(text: string, key: string = text): void {
    if (this.interactive) {
      const width = this.io.stderr.columns ?? 100;
      this.io.stderr.write(`\r\x1b[2K${truncate(text, width - 1)}`);
      this.statusShown = true;
    } else if (key !== this.lastStatus) {
      this.io.stderr.write(`${text}\n`);
    }
    this.lastStatus = key;
  }

  clearStatus(): void {
    if (this.statusShown) {
      this.io.stderr.write("\r\x1b[2K");
      this.statusShown = false;
    }
  }

  /** A byte progress bar for uploads and downloads. */
  progress(label: string, total: number | undefined): Progress {
    return new Progress(this, label, total);
  }
}

export class Progress {
  private started = Date.now();
  private lastDraw = 0;
  private done = 0;

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly total: number | undefined,
  ) {}

  update(bytes: number): void {
    this.done = bytes;
    if (!this.out.interactive) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.out.status(this.render());
  }

  finish(): void {
    const seconds = (Date.now() - this.started) / 1000;
    const size = formatBytes(this.total ?? this.done);
    this.out.note(`${this.out.c.green("✓")} ${this.label}: ${size} in ${seconds.toFixed(1)} s`);
  }

  private render(): string {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = `${formatBytes(this.done / seconds)}/s`;
    if (!this.total) return `${this.label} ${formatBytes(this.done)} ${rate}`;
    const ratio = Math.min(this.done / this.total, 1);
    const width = 24;
    const filled = Math.round(ratio * width);
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    return `${this.label} ${bar} ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(this.done)}/${formatBytes(this.total)} ${rate}`;
  }
}

function renderTable<Row>(rows: Row[], columns: Column<Row>[], c?: Colors): string {
  const cells = rows.map((row) => columns.map((col) => col.value(row)));
  const widths = columns.map((col, i) =>
    Math.max(col.header.length, ...cells.map((r) => visibleLength(r[i] ?? ""))),
  );
  const pad = (text: string, i: number) => {
    const gap = " ".repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(text)));
    return columns[i]?.align === "right" ? gap + text : text + gap;
  };
  const header = columns.map((col, i) => pad(col.header, i)).join("  ");
  const lines = [
    c ? c.bold(header.trimEnd()) : header.trimEnd(),
    ...cells.map((r) => r.map(pad).join("  ").trimEnd()),
  ];
  return lines.join("\n");
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes to measure width
const ANSI = /\x1b\[[0-9;]*m/g;

function visibleLength(text: string): number {
  return text.replace(ANSI, "").length;
}

function truncate(text: string, width: number): string {
  return visibleLength(text) <= width ? text : `${text.replace(ANSI, "").slice(0, Math.max(0, width - 1))}…`;
}

/**
 * A reader that stopped reading (`rescale-run logs ID | head -1`) is not a crash: on EPIPE the command has nobody
 * left to tell anything, so it exits quietly with 0, as `cat` or `grep` piped into `head` do. Any other stream
 * error is rethrown (a real failure, reported as one).
 */
export function exitQuietlyOnClosedPipe(...streams: NodeJS.WriteStream[]): void {
  for (const stream of streams) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") process.exit(0);
      throw err;
    });
  }
}
