import assert from "node:assert/strict";
import { test } from "node:test";

import { AlreadyExists, ApiError, Conflict, describeError, Forbidden, Invalid, NotFound } from "@wharf/sdk";

import { formatLogArguments } from "../src/log";

test("the host's api-error variants become their exception classes", () => {
  const cases: Array<[string, new (message: string) => ApiError, number]> = [
    ["not-found", NotFound, 404],
    ["already-exists", AlreadyExists, 409],
    ["conflict", Conflict, 409],
    ["forbidden", Forbidden, 403],
    ["invalid", Invalid, 422],
  ];
  for (const [tag, type, code] of cases) {
    const error = ApiError.fromWit({ tag, val: "why" });
    assert.ok(error instanceof type && error instanceof ApiError && error instanceof Error, tag);
    assert.equal(error.code, code);
    assert.equal(error.message, "why");
  }
  const other = ApiError.fromWit({ tag: "other", val: "host down" });
  assert.equal(other.reason, "Other");
  assert.equal(`${other}`, "ApiError: host down");
});

test("an error is described with its name, message and stack", () => {
  const text = describeError(new Conflict("stale"));
  assert.match(text, /^Conflict: stale\n/);
  assert.ok(text.split("\n").length > 2);
  const spiderMonkeyLike = Object.assign(new Error("boom"), { stack: "reconcile@plugin.js:3:9\n" });
  assert.equal(describeError(spiderMonkeyLike), "Error: boom\nreconcile@plugin.js:3:9");
  assert.equal(describeError("just text"), "uncaught just text");
  assert.equal(describeError({ code: 1 }), 'uncaught {"code":1}');
});

test("console arguments are formatted as util.format does in the common cases", () => {
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  const cases: Array<[unknown[], string]> = [
    [[], ""],
    [["plain", "words"], "plain words"],
    [["%s is %d years, %i%%", "Ann", 41.7, 3.9], "Ann is 41.7 years, 3%"],
    [["%j and %o", { a: [1] }, null], '{"a":[1]} and null'],
    [["%s left over", "one", "two", { k: "v" }], 'one left over two {"k":"v"}'],
    [["no args %s"], "no args %s"],
    [[1, true, undefined, 10n, "s"], "1 true undefined 10n s"],
    [[circular], '{"a":1,"self":"[Circular]"}'],
    [[new Map([["k", 1]]), new Set([1])], '{"k":1} [1]'],
  ];
  for (const [args, expected] of cases) assert.equal(formatLogArguments(args), expected);
});
