import { UsageError } from "./errors.js";
import type { CliIo } from "./io.js";

/**
 * Reads a secret: from a terminal without echo, or the whole of piped stdin (`... | rescale-run config set`).
 * Never from argv (it would land in the shell history and the process list).
 */
export async function readSecret(io: CliIo, prompt: string): Promise<string> {
  const value = io.stdin.isTTY && io.stdin.setRawMode ? await promptHidden(io, prompt) : await readAll(io);
  const secret = value.trim();
  if (!secret)
    throw new UsageError(
      "No API key given.",
      'Type it at the prompt, or pipe it: printf %s "$KEY" | rescale-run config set',
    );
  return secret;
}

async function readAll(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
}

function promptHidden(io: CliIo, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = io.stdin;
    io.stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.resume();
    let value = "";
    const finish = (err?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off("data", onData);
      io.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish();
        if (ch === "\u0003") return finish(new UsageError("cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}
