/**
 * Why a cluster call failed: the WIT `api-error` variant as exception
 * classes, one per case, all `instanceof ApiError`.
 *
 * ```ts
 * try {
 *   ctx.create(mirror);
 * } catch (error) {
 *   if (!(error instanceof AlreadyExists)) throw error;
 * }
 * ```
 *
 * @module
 */

/** The WIT `api-error` cases, as the Kubernetes API names its reasons. */
export type ApiErrorReason = "NotFound" | "AlreadyExists" | "Conflict" | "Forbidden" | "Invalid" | "Other";

/** A failed cluster call. Thrown as one of its subclasses. */
export class ApiError extends Error {
  /** The Kubernetes reason (`NotFound`, `Conflict`…). */
  readonly reason: ApiErrorReason;
  /** The HTTP status the Kubernetes API answers with (500 for `Other`). */
  readonly code: number;

  constructor(reason: ApiErrorReason, code: number, message: string) {
    super(message);
    this.name = reason === "Other" ? "ApiError" : reason;
    this.reason = reason;
    this.code = code;
  }

  /** The error the host's `api-error` variant (`{tag, val}`) stands for. */
  static fromWit(error: { tag: string; val: string }): ApiError {
    switch (error.tag) {
      case "not-found":
        return new NotFound(error.val);
      case "already-exists":
        return new AlreadyExists(error.val);
      case "conflict":
        return new Conflict(error.val);
      case "forbidden":
        return new Forbidden(error.val);
      case "invalid":
        return new Invalid(error.val);
      default:
        return new ApiError("Other", 500, error.val);
    }
  }
}

/** 404: the object (or its namespace) does not exist. */
export class NotFound extends ApiError {
  constructor(message: string) {
    super("NotFound", 404, message);
  }
}

/** 409: an object with that name exists. */
export class AlreadyExists extends ApiError {
  constructor(message: string) {
    super("AlreadyExists", 409, message);
  }
}

/** 409: the resourceVersion was stale; read again and retry. */
export class Conflict extends ApiError {
  constructor(message: string) {
    super("Conflict", 409, message);
  }
}

/** 403: the plugin's permissions do not allow this. */
export class Forbidden extends ApiError {
  constructor(message: string) {
    super("Forbidden", 403, message);
  }
}

/** 400/422: the object or request is invalid. */
export class Invalid extends ApiError {
  constructor(message: string) {
    super("Invalid", 422, message);
  }
}

/**
 * An error as one text: `Name: message` and the stack below it (the
 * shape V8 prints; SpiderMonkey's `stack` lacks the first line).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) {
    return `uncaught ${typeof error === "string" ? error : safeJson(error)}`;
  }
  const headline = `${error.name}: ${error.message}`;
  const stack = typeof error.stack === "string" ? error.stack.trimEnd() : "";
  if (stack === "") return headline;
  return stack.startsWith(headline) ? stack : `${headline}\n${stack}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
