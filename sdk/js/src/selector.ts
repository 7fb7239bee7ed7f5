/**
 * Label selectors: matching labels against a `LabelSelector`, and writing
 * it as the text a list call takes (`app=web,tier in (a,b)`), as
 * apimachinery's `LabelSelectorAsSelector` and `labels.Parse` do.
 *
 * @module
 */

import { Invalid } from "./errors";
import type { LabelSelector } from "./objects";

/** How a {@link Requirement} compares a label. */
export type Operator = "=" | "!=" | "in" | "notin" | "exists" | "!";

/** One condition on one label. */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** Sorted; one value for `=`/`!=`, none for `exists`/`!`. */
  readonly values: readonly string[];
}

/**
 * A parsed label selector: requirements that must all hold, sorted by key.
 * The empty selector matches everything.
 *
 * ```ts
 * const selector = Selector.from({ matchLabels: { app: "web" } });
 * selector.matches({ app: "web", tier: "a" }); // true
 * String(selector);                            // "app=web"
 * ```
 */
export class Selector {
  readonly requirements: readonly Requirement[];

  private constructor(requirements: Requirement[]) {
    this.requirements = Object.freeze(
      [...requirements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    );
  }

  /** The selector that matches every object. */
  static everything(): Selector {
    return new Selector([]);
  }

  /** Parses the text form (`app=web,tier in (a,b),!canary`); `Invalid` when malformed. */
  static parse(text: string): Selector {
    return new Selector(new Parser(text).parse());
  }

  /**
   * The selector a `LabelSelector` means: `matchLabels` as equalities and
   * `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`. An
   * empty one matches everything; an unknown operator is `Invalid`.
   */
  static fromLabelSelector(selector: LabelSelector): Selector {
    const requirements: Requirement[] = [];
    for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
      requirements.push(requirement(key, "=", [value]));
    }
    for (const expression of selector.matchExpressions ?? []) {
      const operator = LABEL_SELECTOR_OPERATORS[expression.operator];
      if (operator === undefined) {
        throw new Invalid(`${JSON.stringify(expression.operator)} is not a valid label selector operator`);
      }
      requirements.push(requirement(expression.key, operator, expression.values ?? []));
    }
    return new Selector(requirements);
  }

  /** A selector from its text, a `LabelSelector`, or a selector. */
  static from(selector: string | LabelSelector | Selector): Selector {
    if (selector instanceof Selector) return selector;
    return typeof selector === "string" ? Selector.parse(selector) : Selector.fromLabelSelector(selector);
  }

  /** Whether this selector matches every object. */
  isEverything(): boolean {
    return this.requirements.length === 0;
  }

  /** Whether `labels` (an object's `metadata.labels`) satisfy every requirement. */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    return this.requirements.every((r) => requirementMatches(r, labels ?? {}));
  }

  /** The text a list call takes; empty for the everything selector. */
  toString(): string {
    return this.requirements.map(formatRequirement).join(",");
  }
}

/** Whether `labels` match `selector` (a `LabelSelector` or selector text). */
export function matchesLabels(
  selector: string | LabelSelector | Selector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return Selector.from(selector).matches(labels);
}

const LABEL_SELECTOR_OPERATORS: Record<string, Operator | undefined> = {
  In: "in",
  NotIn: "notin",
  Exists: "exists",
  DoesNotExist: "!",
};

/** A checked requirement: a valid key, and as many values as its operator takes. */
function requirement(key: string, operator: Operator, values: readonly string[]): Requirement {
  checkKey(key);
  values.forEach(checkValue);
  const count = values.length;
  const valid =
    operator === "=" || operator === "!="
      ? count === 1
      : operator === "in" || operator === "notin"
        ? count > 0
        : count === 0;
  if (!valid) {
    throw new Invalid(
      `label selector requirement on ${JSON.stringify(key)}: operator ${operator} cannot take ${count} value(s)`,
    );
  }
  return Object.freeze({ key, operator, values: Object.freeze([...new Set(values)].sort()) });
}

function requirementMatches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case "=":
    case "in":
      return value !== undefined && r.values.includes(value);
    case "!=":
    case "notin":
      return value === undefined || !r.values.includes(value);
    case "exists":
      return has;
    case "!":
      return !has;
  }
}

function formatRequirement(r: Requirement): string {
  switch (r.operator) {
    case "=":
    case "!=":
      return `${r.key}${r.operator}${r.values[0]}`;
    case "in":
    case "notin":
      return `${r.key} ${r.operator} (${r.values.join(",")})`;
    case "exists":
      return r.key;
    case "!":
      return `!${r.key}`;
  }
}

const LABEL_CHARS = /^[A-Za-z0-9._/-]+$/;
const VALUE_CHARS = /^[A-Za-z0-9._-]*$/;

function checkKey(key: string): void {
  if (key.length === 0 || key.length > 317 || !LABEL_CHARS.test(key)) {
    throw new Invalid(`${JSON.stringify(key)} is not a valid label key`);
  }
}

function checkValue(value: string): void {
  if (value.length > 63 || !VALUE_CHARS.test(value)) {
    throw new Invalid(`${JSON.stringify(value)} is not a valid label value`);
  }
}

/** A small recursive-descent parser over the selector text. */
class Parser {
  private rest: string;

  constructor(private readonly text: string) {
    this.rest = text;
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    this.skipSpaces();
    if (this.rest === "") return requirements;
    for (;;) {
      requirements.push(this.requirement());
      this.skipSpaces();
      if (this.rest === "") return requirements;
      this.expect(",");
    }
  }

  private requirement(): Requirement {
    this.skipSpaces();
    if (this.eat("!")) return requirement(this.word(), "!", []);
    const key = this.word();
    this.skipSpaces();
    if (this.rest === "" || this.rest.startsWith(",")) return requirement(key, "exists", []);
    if (this.eat("!=")) return requirement(key, "!=", [this.value()]);
    if (this.eat("==") || this.eat("=")) return requirement(key, "=", [this.value()]);
    const word = this.word();
    if (word !== "in" && word !== "notin") throw this.error("expected =, ==, !=, in or notin");
    this.skipSpaces();
    this.expect("(");
    const values: string[] = [];
    this.skipSpaces();
    if (!this.eat(")")) {
      for (;;) {
        values.push(this.value());
        this.skipSpaces();
        if (this.eat(")")) break;
        this.expect(",");
      }
    }
    return requirement(key, word, values);
  }

  private value(): string {
    this.skipSpaces();
    return this.word();
  }

  private word(): string {
    const match = /^[A-Za-z0-9._/-]*/.exec(this.rest);
    const word = match ? match[0] : "";
    this.rest = this.rest.slice(word.length);
    return word;
  }

  private skipSpaces(): void {
    this.rest = this.rest.trimStart();
  }

  private eat(token: string): boolean {
    if (!this.rest.startsWith(token)) return false;
    this.rest = this.rest.slice(token.length);
    return true;
  }

  private expect(token: string): void {
    if (!this.eat(token)) throw this.error(`expected ${JSON.stringify(token)}`);
  }

  private error(message: string): Invalid {
    const position = this.text.length - this.rest.length;
    return new Invalid(`label selector ${JSON.stringify(this.text)} at ${position}: ${message}`);
  }
}
