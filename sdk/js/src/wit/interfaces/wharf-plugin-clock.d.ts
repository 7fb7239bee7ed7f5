declare module 'wharf:plugin/clock@0.1.0' {
  /**
   * Milliseconds since the Unix epoch.
   */
  export function nowMillis(): bigint;
}
