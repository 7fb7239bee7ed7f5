/**
 * The Plugin's `spec.config`: JSON the host hands to `init` (`{}` when
 * absent). The host's own settings (`order`, `failurePolicy`,
 * `namespaceSelector`, `objectSelector`, `instances`…) are in it too, so a
 * plugin ignores keys it does not know.
 *
 * @module
 */

import { Invalid } from "./errors";

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `spec.config` as parsed: a JSON object. */
export type PluginConfig = { [key: string]: Json | undefined };

/** Parses `spec.config`; `Invalid` unless it is a JSON object. */
export function parseConfig(text: string): PluginConfig {
  let value: unknown;
  try {
    value = JSON.parse(text === "" ? "{}" : text);
  } catch (error) {
    throw new Invalid(`spec.config is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Invalid("spec.config must be a JSON object");
  }
  return value as PluginConfig;
}
