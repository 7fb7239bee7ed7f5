/// <reference path="./wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/review@0.1.0' {
  /**
   * Called once per instance with the Plugin's `spec.config` (JSON).
   */
  export function init(config: string): Registration;
  export function review(request: Request): Response;
  export type Kind = import('wharf:plugin/types@0.1.0').Kind;
  /**
   * What the plugin reviews. The Plugin object may narrow it further
   * with `spec.config.namespaceSelector` and `objectSelector`.
   */
  export interface Registration {
    /**
     * The kinds this plugin reviews.
     */
    kinds: Array<Kind>,
    /**
     * CREATE, UPDATE, DELETE (`*`: all of them).
     */
    operations: Array<string>,
    /**
     * Whether it may change objects (mutating) or only judge them.
     */
    mutating: boolean,
    /**
     * The kinds it reads through `cluster` on every review (namespaces,
     * quotas…): the host serves them from its caches.
     */
    reads: Array<Kind>,
  }
  /**
   * Who asks (`system:anonymous` in `system:unauthenticated` until the
   * API server authenticates).
   */
  export interface UserInfo {
    username: string,
    groups: Array<string>,
  }
  export interface Request {
    /**
     * A unique id of this review.
     */
    uid: string,
    /**
     * CREATE, UPDATE or DELETE.
     */
    operation: string,
    kind: Kind,
    /**
     * `status`, `scale`, `binding`… when the write is to a subresource.
     */
    subResource?: string,
    namespace?: string,
    name: string,
    /**
     * The object as it would be stored (JSON); none for DELETE.
     */
    object?: string,
    /**
     * The object as stored now (JSON); none for CREATE.
     */
    oldObject?: string,
    user: UserInfo,
    /**
     * Nothing will be stored: the plugin must not have side effects
     * (no charging of a quota, for instance).
     */
    dryRun: boolean,
  }
  export type Decision = DecisionAllow | DecisionDeny | DecisionPatch;
  export interface DecisionAllow {
    tag: 'allow',
  }
  /**
   * Refuse, with the message the client sees (403 Forbidden:
   * `admission plugin "NAME" denied the request: MESSAGE`).
   */
  export interface DecisionDeny {
    tag: 'deny',
    val: string,
  }
  /**
   * Allow with changes: an RFC 6902 JSON patch (mutating plugins only).
   */
  export interface DecisionPatch {
    tag: 'patch',
    val: string,
  }
  /**
   * A status to store together with the write under review (a quota's
   * new usage): both are stored or neither is. The object must still be
   * at `resource-version`; if it has changed, the API server runs the
   * validating plugins again, and they read the newer version.
   */
  export interface StatusUpdate {
    kind: Kind,
    namespace?: string,
    name: string,
    /**
     * The resourceVersion the plugin read.
     */
    resourceVersion: string,
    /**
     * The object's new `status` (JSON).
     */
    status: string,
  }
  export interface Response {
    decision: Decision,
    /**
     * Sent to the client as `Warning` headers (kubectl prints them).
     */
    warnings: Array<string>,
    /**
     * Recorded in the API server's audit log, `key=value`.
     */
    auditAnnotations: Array<[string, string]>,
    /**
     * Validating plugins only, on a create or update that is not a
     * dry run; ignored with a denial.
     */
    statusUpdates: Array<StatusUpdate>,
  }
}
