#!/usr/bin/env node
// Regenerates src/wit/: the TypeScript declarations of the WIT interfaces
// (`wharf:plugin/*`) that src/wasm/ imports, for the type check only.
// They are committed, so that nobody else needs jco's type generator:
//
//   node sdk/js/bin/wit-types.mjs [--wit DIR]
//
// jco 1.34.0 is fetched on demand with npx (1.35.0's `types`/`guest-types`
// fail with "failed to get path metadata … (os error 44)").

import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { fail, SDK_DIR } from "./toolchain.mjs";

const { values } = parseArgs({ options: { wit: { type: "string", default: resolve(SDK_DIR, "../../wit") } } });
const out = join(SDK_DIR, "src/wit");
const work = mkdtempSync(join(tmpdir(), "wharf-wit-types-"));
try {
  for (const world of ["controller", "admission"]) {
    const result = spawnSync(
      "npx",
      ["--yes", "-p", "@bytecodealliance/jco@1.34.0", "jco", "guest-types", values.wit, "-n", world, "-o", join(work, world), "-q"],
      { stdio: "inherit" },
    );
    if (result.status !== 0) fail(`jco guest-types failed for the ${world} world`);
  }
  rmSync(out, { recursive: true, force: true });
  cpSync(join(work, "controller"), out, { recursive: true });
  cpSync(join(work, "admission"), out, { recursive: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
