import assert from "node:assert/strict";
import { test } from "node:test";

import { Invalid, matchesLabels, Selector } from "@wharf/sdk";

test("label selectors match as Kubernetes does", () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ["", {}, true],
    ["", { a: "b" }, true],
    ["app=web", { app: "web" }, true],
    ["app==web", { app: "web", x: "y" }, true],
    ["app=web", { app: "db" }, false],
    ["app=web", {}, false],
    ["app!=web", {}, true],
    ["app!=web", { app: "web" }, false],
    ["tier in (a,b)", { tier: "b" }, true],
    ["tier in (a,b)", { tier: "c" }, false],
    ["tier in (a,b)", {}, false],
    ["tier notin (a,b)", {}, true],
    ["tier notin (a,b)", { tier: "a" }, false],
    ["canary", { canary: "" }, true],
    ["canary", {}, false],
    ["!canary", {}, true],
    ["!canary", { canary: "yes" }, false],
    ["app=web, tier in ( a , b ),!canary", { app: "web", tier: "a" }, true],
    ["app=web,tier in (a,b),!canary", { app: "web", tier: "a", canary: "1" }, false],
    ["app=", { app: "" }, true],
  ];
  for (const [text, labels, expected] of cases) {
    assert.equal(Selector.parse(text).matches(labels), expected, `${text} on ${JSON.stringify(labels)}`);
  }
});

test("malformed selectors are Invalid", () => {
  for (const text of ["app in a", "app in (a", "app >= 3", "=x", "a=b,", "tier notin ()", "a=b c"]) {
    assert.throws(() => Selector.parse(text), Invalid, text);
  }
});

test("LabelSelector objects convert to sorted text that parses back", () => {
  const selector = Selector.fromLabelSelector({
    matchLabels: { z: "1", app: "web" },
    matchExpressions: [
      { key: "tier", operator: "NotIn", values: ["b", "a"] },
      { key: "gone", operator: "DoesNotExist" },
      { key: "here", operator: "Exists" },
    ],
  });
  assert.equal(String(selector), "app=web,!gone,here,tier notin (a,b),z=1");
  assert.deepEqual(Selector.parse(String(selector)).requirements, selector.requirements);
});

test("an empty LabelSelector matches everything, objects without labels included", () => {
  const selector = Selector.fromLabelSelector({});
  assert.ok(selector.isEverything());
  assert.equal(String(selector), "");
  assert.ok(selector.matches(undefined));
  assert.ok(matchesLabels({ matchLabels: {} }, undefined));
});

test("bad LabelSelector expressions are Invalid", () => {
  for (const expression of [
    { key: "a", operator: "Equals", values: ["x"] },
    { key: "a", operator: "In", values: [] },
    { key: "a", operator: "Exists", values: ["x"] },
    { key: "", operator: "Exists" },
  ]) {
    assert.throws(() => Selector.fromLabelSelector({ matchExpressions: [expression] }), Invalid, JSON.stringify(expression));
  }
});
