#!/usr/bin/env node
// Builds a TypeScript or JavaScript plugin into a WebAssembly component:
//
//   node sdk/js/bin/build.mjs --wit wit --world admission --out OUT.wasm PLUGIN_DIR
//
// 1. type-checks src/ and test/ (TypeScript plugins; --no-typecheck skips it);
// 2. bundles the entry (src/plugin.ts, or .mts/.js/.mjs) with the SDK into
//    one ES module whose exports are the world's (the SDK's wasm/ glue around
//    the plugin's default export), leaving the `wharf:plugin/*` imports to
//    the component;
// 3. componentizes it with componentize-js (the StarlingMonkey engine), with
//    the http and fetch-event features off: the host serves no wasi:http;
// 4. checks the component imports only WASI cli/io/clocks/random/filesystem
//    and wharf:plugin interfaces; writes OUT.wasm (temporary file + rename,
//    so a watching host never reads half a module).

import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { fail, formatBytes, formatMillis, loadEsbuild, SDK_DIR, sdkResolver, typecheck } from "./toolchain.mjs";

const USAGE = `usage: node ${join(SDK_DIR, "bin/build.mjs")} --world controller|admission --out OUT.wasm [--wit DIR] [--bundle FILE.js] [--debug] [--no-typecheck] [--verbose] PLUGIN_DIR`;

/** Each world's export, and the SDK glue that serves it. */
const WORLDS = {
  controller: { exportName: "reconciler", glue: "@wharf/sdk/wasm/controller", serve: "serveController" },
  admission: { exportName: "review", glue: "@wharf/sdk/wasm/admission", serve: "serveAdmission" },
};

/** What a component may import: the WASI interfaces StarlingMonkey uses, and the WIT contract. */
const ALLOWED_IMPORTS = /^(wasi:(cli|io|clocks|random|filesystem)\/|wharf:plugin\/)/;

const ENTRY_NAMES = ["src/plugin.ts", "src/plugin.mts", "src/plugin.js", "src/plugin.mjs"];

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        wit: { type: "string", default: resolve(SDK_DIR, "../../wit") },
        world: { type: "string" },
        out: { type: "string" },
        bundle: { type: "string" },
        debug: { type: "boolean", default: false },
        "no-typecheck": { type: "boolean", default: false },
        verbose: { type: "boolean", short: "v", default: false },
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
  if (positionals.length !== 1 || !options.world || !options.out) fail(USAGE, 2);
  const world = WORLDS[options.world];
  if (world === undefined) fail(`--world must be controller or admission, not ${JSON.stringify(options.world)}`, 2);
  const pluginDir = resolve(positionals[0]);
  const witDir = resolve(options.wit);
  const out = resolve(options.out);
  if (!existsSync(witDir)) fail(`no WIT at ${witDir} (pass --wit)`);
  const entryName = ENTRY_NAMES.find((name) => existsSync(join(pluginDir, name)));
  if (entryName === undefined) fail(`${pluginDir} has no entry: write src/plugin.ts (or src/plugin.js)`);
  const entry = join(pluginDir, entryName);
  const started = Date.now();
  const timings = [];

  // 1. Type check.
  if (!options["no-typecheck"] && /\.m?ts$/.test(entryName)) {
    timings.push(`typecheck ${formatMillis(typecheck(pluginDir))}`);
  }

  // 2. Bundle.
  const bundleStarted = Date.now();
  const esbuild = await loadEsbuild();
  const entryModule = [
    `import plugin from ${JSON.stringify(entry)};`,
    `import { ${world.serve} } from ${JSON.stringify(world.glue)};`,
    `export const ${world.exportName} = ${world.serve}(plugin);`,
    "",
  ].join("\n");
  let bundle;
  try {
    const result = await esbuild.build({
      stdin: { contents: entryModule, resolveDir: pluginDir, sourcefile: "wharf-entry.js", loader: "js" },
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      target: "es2022",
      external: ["wharf:*"],
      plugins: [sdkResolver()],
      legalComments: "none",
      logLevel: "silent",
    });
    bundle = result.outputFiles[0].text;
  } catch (error) {
    const messages = (error.errors ?? []).map((e) => {
      const where = e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : "";
      const hint = /Could not resolve "node:/.test(e.text) ? " (a component has no Node APIs)" : "";
      return `${where}${e.text}${hint}`;
    });
    fail(`bundling failed:\n${messages.join("\n") || error.message}`);
  }
  timings.push(`bundle ${formatMillis(Date.now() - bundleStarted)} (${formatBytes(Buffer.byteLength(bundle))} of JS)`);

  // 3. Componentize, from a file named after the plugin (stack traces show it).
  const workDir = await mkdtemp(join(tmpdir(), "wharf-js-build-"));
  const sourcePath = options.bundle ? resolve(options.bundle) : join(workDir, `${basename(pluginDir)}.js`);
  await mkdir(dirname(sourcePath), { recursive: true });
  await writeFile(sourcePath, bundle);
  const componentizeStarted = Date.now();
  const { componentize } = await import("@bytecodealliance/componentize-js");
  let component;
  try {
    ({ component } = await componentize({
      sourcePath,
      witPath: witDir,
      worldName: options.world,
      disableFeatures: ["http", "fetch-event"],
      debugBuild: options.debug,
    }));
  } catch (error) {
    fail(`componentize failed: ${error.message ?? error}`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  timings.push(`componentize ${formatMillis(Date.now() - componentizeStarted)}`);

  // 4. Check the imports, then write.
  const checkStarted = Date.now();
  const { imports, exports } = await interfacesOf(component);
  const refused = imports.filter((name) => !ALLOWED_IMPORTS.test(name));
  if (refused.length > 0) {
    fail(`the component imports what the host does not provide: ${refused.join(", ")}`);
  }
  timings.push(`check ${formatMillis(Date.now() - checkStarted)}`);
  await mkdir(dirname(out), { recursive: true });
  const temporary = `${out}.tmp-${process.pid}`;
  await writeFile(temporary, component);
  await rename(temporary, out);

  const size = statSync(out).size;
  process.stdout.write(
    `built ${out} (world ${options.world}): ${formatBytes(size)} in ${formatMillis(Date.now() - started)} (${timings.join(", ")})\n`,
  );
  if (options.verbose) {
    for (const name of imports) process.stdout.write(`  import ${name}\n`);
    for (const name of exports) process.stdout.write(`  export ${name}\n`);
  }
}

/** The interfaces a component imports and exports, from its WIT. */
async function interfacesOf(component) {
  const { componentWit } = await import("@bytecodealliance/jco");
  const wit = await componentWit(component);
  const names = (keyword) =>
    [...wit.matchAll(new RegExp(`^\\s*${keyword}\\s+([^;{]+?)\\s*;`, "gm"))].map((match) => match[1]);
  return { imports: names("import"), exports: names("export") };
}

main().catch((error) => fail(error?.stack ?? String(error)));
