#!/usr/bin/env node
import { runRunnerCli } from "./cli.js";

process.exitCode = await runRunnerCli(process.argv.slice(2));
