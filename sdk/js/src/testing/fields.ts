/**
 * Field selectors as the fake cluster reads them: `path=value`,
 * `path==value` and `path!=value` terms joined by commas, over any dotted
 * path of the object's JSON (the API server allows only a few per kind).
 *
 * @module
 */

import { Invalid } from "../errors";

interface Term {
  path: string[];
  equals: boolean;
  value: string;
}

export class FieldSelector {
  private constructor(private readonly terms: Term[]) {}

  static parse(text: string): FieldSelector {
    const terms: Term[] = [];
    for (const term of text.split(",").map((t) => t.trim()).filter((t) => t !== "")) {
      const match = /^(.*?)(!=|==|=)(.*)$/.exec(term);
      if (match === null) throw new Invalid(`field selector term ${JSON.stringify(term)} has no =, == or !=`);
      const [, path, operator, value] = match as unknown as [string, string, string, string];
      if (path.trim() === "") throw new Invalid(`field selector term ${JSON.stringify(term)} has no field`);
      terms.push({ path: path.trim().split("."), equals: operator !== "!=", value: value.trim() });
    }
    return new FieldSelector(terms);
  }

  matches(object: unknown): boolean {
    return this.terms.every((term) => {
      let field: unknown = object;
      for (const key of term.path) {
        field = typeof field === "object" && field !== null ? (field as Record<string, unknown>)[key] : undefined;
      }
      const text = typeof field === "string" ? field : field === undefined || field === null ? "" : JSON.stringify(field);
      return (text === term.value) === term.equals;
    });
  }
}
