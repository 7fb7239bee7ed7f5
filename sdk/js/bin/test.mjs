#!/usr/bin/env node
// Runs a plugin's unit tests on plain Node, no WebAssembly:
//
//   node sdk/js/bin/test.mjs PLUGIN_DIR [-- NODE_TEST_ARGS…]
//
// 1. type-checks src/ and test/ (TypeScript; --no-typecheck skips it);
// 2. compiles each test/**/*.test.{ts,mts,js,mjs} with esbuild into one ES
//    module (the plugin and the SDK bundled in, `@wharf/sdk` resolved to
//    the SDK's sources, source maps inline) in a temporary folder;
// 3. runs them with `node --enable-source-maps --test`, and exits with its
//    status. Arguments after `--` go to node (`--test-name-pattern=…`).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

import { fail, formatMillis, loadEsbuild, SDK_DIR, sdkResolver, typecheck } from "./toolchain.mjs";

const USAGE = `usage: node ${join(SDK_DIR, "bin/test.mjs")} [--no-typecheck] PLUGIN_DIR [-- NODE_TEST_ARGS…]`;

const TEST_FILE = /\.test\.(ts|mts|js|mjs)$/;

async function main() {
  const separator = process.argv.indexOf("--", 2);
  const ownArgs = separator < 0 ? process.argv.slice(2) : process.argv.slice(2, separator);
  const nodeArgs = separator < 0 ? [] : process.argv.slice(separator + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: ownArgs,
      allowPositionals: true,
      options: {
        "no-typecheck": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    fail(`${error.message}\n${USAGE}`, 2);
  }
  const { values: options, positionals } = parsed;
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) fail(USAGE, 2);
  const pluginDir = resolve(positionals[0]);
  const testDir = join(pluginDir, "test");
  const files = existsSync(testDir) ? findTests(testDir) : [];
  if (files.length === 0) fail(`${pluginDir} has no tests: write test/<name>.test.ts`);

  if (!options["no-typecheck"] && files.some((file) => /\.m?ts$/.test(file))) {
    const millis = typecheck(pluginDir);
    process.stderr.write(`type check: ${formatMillis(millis)}\n`);
  }

  const esbuild = await loadEsbuild();
  const outDir = mkdtempSync(join(tmpdir(), "wharf-js-test-"));
  try {
    let outputs;
    try {
      const result = await esbuild.build({
        entryPoints: Object.fromEntries(
          files.map((file) => [relative(testDir, file).replace(TEST_FILE, ".test"), file]),
        ),
        outdir: outDir,
        outExtension: { ".js": ".mjs" },
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node18",
        sourcemap: "inline",
        plugins: [sdkResolver()],
        logLevel: "silent",
        metafile: true,
      });
      outputs = Object.keys(result.metafile.outputs).map((file) => resolve(file));
    } catch (error) {
      const messages = (error.errors ?? []).map((e) =>
        e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text,
      );
      fail(`compiling the tests failed:\n${messages.join("\n") || error.message}`);
    }
    const run = spawnSync(process.execPath, ["--enable-source-maps", "--test", ...nodeArgs, ...outputs.sort()], {
      stdio: "inherit",
      cwd: pluginDir,
    });
    process.exitCode = run.status ?? 1;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "node_modules") found.push(...findTests(path));
    else if (entry.isFile() && TEST_FILE.test(entry.name)) found.push(path);
  }
  return found.sort();
}

main().catch((error) => fail(error?.stack ?? String(error)));
