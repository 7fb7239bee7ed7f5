/**
 * Logging: `console.*` routed to a sink (the host's `log` interface in a
 * component, the fake cluster's record in tests), the arguments formatted
 * as Node's `util.format` does in the common cases.
 *
 * @module
 */

import type { LogLevel } from "./backend";
import { describeError } from "./errors";

/** Where log lines go. */
export type LogSink = (level: LogLevel, message: string) => void;

/** The console methods that are routed, and the level each logs at. */
export const CONSOLE_LEVELS = Object.freeze({
  trace: "trace",
  debug: "debug",
  log: "info",
  info: "info",
  dir: "info",
  warn: "warn",
  error: "error",
} as const satisfies Record<string, LogLevel>);

type RoutedMethod = keyof typeof CONSOLE_LEVELS;

/**
 * Replaces the routed `console` methods with ones that format their
 * arguments and hand them to `sink`; returns a function that puts the
 * originals back.
 */
export function routeConsole(sink: LogSink): () => void {
  const target = console as unknown as Record<RoutedMethod, (...args: unknown[]) => void>;
  const originals = new Map<RoutedMethod, (...args: unknown[]) => void>();
  for (const [method, level] of Object.entries(CONSOLE_LEVELS) as Array<[RoutedMethod, LogLevel]>) {
    originals.set(method, target[method]);
    target[method] = (...args: unknown[]) => sink(level, formatLogArguments(args));
  }
  return () => {
    for (const [method, original] of originals) target[method] = original;
  };
}

/**
 * One line from `console.log`-style arguments: `%s %d %i %f %j %o %O %c %%`
 * in a leading format string, then the other arguments separated by spaces;
 * objects as JSON, errors with their stack.
 */
export function formatLogArguments(args: readonly unknown[]): string {
  if (args.length === 0) return "";
  const rest = [...args];
  const parts: string[] = [];
  const first = rest[0];
  if (typeof first === "string" && first.includes("%")) {
    rest.shift();
    parts.push(
      first.replace(/%([sdifjoOc%])/g, (whole, code: string) => {
        if (code === "%") return "%";
        if (rest.length === 0) return whole;
        const value = rest.shift();
        switch (code) {
          case "s":
            return typeof value === "string" ? value : formatValue(value);
          case "d":
          case "i": {
            const number = typeof value === "bigint" ? value : Number(value);
            return String(code === "i" && typeof number === "number" ? Math.trunc(number) : number);
          }
          case "f":
            return String(Number(value));
          case "c":
            return "";
          default:
            return formatValue(value);
        }
      }),
    );
  }
  for (const value of rest) parts.push(typeof value === "string" ? value : formatValue(value));
  return parts.join(" ");
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return describeError(value);
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "undefined":
    case "number":
    case "boolean":
    case "symbol":
    case "function":
      return String(value);
    case "bigint":
      return `${value}n`;
  }
  try {
    const seen = new WeakSet<object>();
    return (
      JSON.stringify(value, (_key, inner: unknown) => {
        if (typeof inner === "bigint") return `${inner}n`;
        if (inner instanceof Map) return Object.fromEntries(inner);
        if (inner instanceof Set) return [...inner];
        if (typeof inner === "object" && inner !== null) {
          if (seen.has(inner)) return "[Circular]";
          seen.add(inner);
        }
        return inner;
      }) ?? String(value)
    );
  } catch {
    return String(value);
  }
}
