#!/usr/bin/env node
import { main } from "./cli.js";
import { exitQuietlyOnClosedPipe } from "./output.js";

exitQuietlyOnClosedPipe(process.stdout, process.stderr);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Anything still holding the event loop (a socket in keep-alive) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    console.error(err);
    process.exitCode = 70;
  },
);
