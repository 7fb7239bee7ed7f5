/**
 * The patches the fake cluster applies: JSON merge patch (RFC 7386), which
 * also stands in for strategic merge patch, and JSON patch (RFC 6902).
 *
 * @module
 */

import { Conflict, Invalid } from "../errors";
import { isPlainObject as isObject, jsonEqual } from "../json";

type JsonObject = Record<string, unknown>;

/**
 * Applies a JSON merge patch: objects merge key by key, `null` removes a
 * key, anything else (lists included) replaces. With `strategic`, keys
 * starting with `$` (strategic merge directives) are dropped instead of
 * stored; lists are still replaced whole, without merge keys.
 */
export function mergePatch(target: unknown, patch: unknown, strategic = false): unknown {
  if (!isObject(patch)) return stripDirectives(patch, strategic);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith("$")) continue;
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value, strategic);
  }
  return result;
}

function stripDirectives(value: unknown, strategic: boolean): unknown {
  if (!strategic) return value;
  if (Array.isArray(value)) return value.map((item) => stripDirectives(item, strategic));
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !key.startsWith("$"))
        .map(([key, inner]) => [key, stripDirectives(inner, strategic)]),
    );
  }
  return value;
}

/**
 * Applies a JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`),
 * all or nothing: returns the patched copy. A failed `test` is a
 * `Conflict`, any other failure `Invalid`.
 */
export function applyJsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new Invalid("a JSON patch must be an array of operations");
  let document: unknown = JSON.parse(JSON.stringify(target ?? null));
  for (const operation of patch as JsonObject[]) {
    const path = stringField(operation, "path");
    switch (operation.op) {
      case "add":
        document = add(document, path, valueField(operation));
        break;
      case "remove":
        document = remove(document, path)[0];
        break;
      case "replace":
        document = add(remove(document, path)[0], path, valueField(operation));
        break;
      case "move": {
        const [without, value] = remove(document, stringField(operation, "from"));
        document = add(without, path, value);
        break;
      }
      case "copy": {
        const from = stringField(operation, "from");
        const value = lookup(document, from);
        if (value === undefined) throw missing(from);
        document = add(document, path, JSON.parse(JSON.stringify(value)));
        break;
      }
      case "test":
        if (!jsonEqual(lookup(document, path), valueField(operation))) {
          throw new Conflict(`JSON patch test failed at ${JSON.stringify(path)}`);
        }
        break;
      default:
        throw new Invalid(`unknown JSON patch operation ${JSON.stringify(operation.op)}`);
    }
  }
  return document;
}

function stringField(operation: JsonObject, field: string): string {
  const value = operation?.[field];
  if (typeof value !== "string") {
    throw new Invalid(`JSON patch operation without ${JSON.stringify(field)}: ${JSON.stringify(operation)}`);
  }
  return value;
}

function valueField(operation: JsonObject): unknown {
  if (!Object.prototype.hasOwnProperty.call(operation, "value")) {
    throw new Invalid(`JSON patch operation without "value": ${JSON.stringify(operation)}`);
  }
  return operation.value;
}

function missing(path: string): Invalid {
  return new Invalid(`JSON patch path ${JSON.stringify(path)} does not exist`);
}

function tokens(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new Invalid(`${JSON.stringify(path)} is not a JSON pointer`);
  return path
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The value at `path`, or undefined. */
export function lookup(document: unknown, path: string): unknown {
  return lookupTokens(document, tokens(path));
}

function lookupTokens(document: unknown, path: readonly string[]): unknown {
  let value = document;
  for (const token of path) {
    if (Array.isArray(value)) value = /^\d+$/.test(token) ? value[Number(token)] : undefined;
    else if (isObject(value) && Object.prototype.hasOwnProperty.call(value, token)) value = value[token];
    else return undefined;
  }
  return value;
}

/** The parent container of `path` (mutable, inside `document`) and the last token. */
function parentOf(document: unknown, path: string): [JsonObject | unknown[], string] {
  const all = tokens(path);
  const last = all.pop();
  if (last === undefined) throw missing(path);
  const parent = lookupTokens(document, all);
  if (!Array.isArray(parent) && !isObject(parent)) throw missing(path);
  return [parent, last];
}

function add(document: unknown, path: string, value: unknown): unknown {
  if (path === "") return value;
  const [parent, token] = parentOf(document, path);
  if (Array.isArray(parent)) {
    const index = token === "-" ? parent.length : /^\d+$/.test(token) ? Number(token) : -1;
    if (index < 0 || index > parent.length) throw missing(path);
    parent.splice(index, 0, value);
  } else {
    parent[token] = value;
  }
  return document;
}

/** The document without the value at `path`, and that value. */
function remove(document: unknown, path: string): [unknown, unknown] {
  if (path === "") return [null, document];
  const [parent, token] = parentOf(document, path);
  if (Array.isArray(parent)) {
    const index = /^\d+$/.test(token) ? Number(token) : -1;
    if (index < 0 || index >= parent.length) throw missing(path);
    return [document, parent.splice(index, 1)[0]];
  }
  if (!Object.prototype.hasOwnProperty.call(parent, token)) throw missing(path);
  const value = parent[token];
  delete parent[token];
  return [document, value];
}
