import { randomInt } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** Short opaque ids in the style Rescale uses for jobs and files (e.g. "OsKBd"). */
export function newId(length = 6): string {
  let id = "";
  for (let i = 0; i < length; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}

export function nowIso(): string {
  return new Date().toISOString();
}
