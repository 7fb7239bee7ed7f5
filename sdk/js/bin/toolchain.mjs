// What build.mjs and test.mjs share: where the SDK is, how a plugin's
// imports of `@wharf/sdk` resolve (to this folder's sources: the plugin
// folder needs no node_modules), and the type check.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** sdk/js. */
export const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The module each `@wharf/sdk…` specifier names; the `wasm/` ones only build.mjs uses. */
const SDK_MODULES = {
  "@wharf/sdk": "src/index.ts",
  "@wharf/sdk/testing": "src/testing/index.ts",
  "@wharf/sdk/wasm/controller": "src/wasm/controller.ts",
  "@wharf/sdk/wasm/admission": "src/wasm/admission.ts",
};

/** An esbuild plugin resolving `@wharf/sdk` and `@wharf/sdk/testing` to the SDK's sources. */
export function sdkResolver() {
  return {
    name: "wharf-sdk",
    setup(build) {
      build.onResolve({ filter: /^@wharf\/sdk(\/.*)?$/ }, (args) => {
        const file = SDK_MODULES[args.path];
        if (file === undefined) {
          return { errors: [{ text: `${args.path} is not a module of the SDK (use @wharf/sdk or @wharf/sdk/testing)` }] };
        }
        return { path: join(SDK_DIR, file) };
      });
    },
  };
}

/** The esbuild module, or a hint to install it. */
export async function loadEsbuild() {
  try {
    return await import("esbuild");
  } catch {
    fail(`esbuild is not installed: run npm ci --prefix ${SDK_DIR}`);
  }
}

/**
 * Type-checks a TypeScript plugin with `tsc --noEmit`: with the plugin's
 * own tsconfig.json when it has one, else with the SDK's plugin settings
 * over its src/ and test/. Returns the milliseconds it took; exits on errors.
 */
export function typecheck(pluginDir) {
  const started = Date.now();
  let project = join(pluginDir, "tsconfig.json");
  if (!existsSync(project)) {
    const dir = mkdtempSync(join(tmpdir(), "wharf-tsc-"));
    project = join(dir, "tsconfig.json");
    writeFileSync(
      project,
      JSON.stringify({
        extends: join(SDK_DIR, "tsconfig.plugin.json"),
        include: [join(pluginDir, "src/**/*.ts"), join(pluginDir, "test/**/*.ts")],
      }),
    );
  }
  const tsc = join(SDK_DIR, "node_modules/typescript/bin/tsc");
  if (!existsSync(tsc)) fail(`typescript is not installed: run npm ci --prefix ${SDK_DIR}`);
  const result = spawnSync(process.execPath, [tsc, "-p", project, "--noEmit", "--pretty"], {
    encoding: "utf8",
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    fail("type check failed (pass --no-typecheck to build anyway)");
  }
  return Date.now() - started;
}

/** Prints `message` and exits with `code`. */
export function fail(message, code = 1) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

/** `1234567` bytes as `1.2 MB`. */
export function formatBytes(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} KB`;
  return `${bytes} B`;
}

/** `1234` ms as `1.2 s`. */
export function formatMillis(millis) {
  return millis >= 1000 ? `${(millis / 1000).toFixed(1)} s` : `${millis} ms`;
}
