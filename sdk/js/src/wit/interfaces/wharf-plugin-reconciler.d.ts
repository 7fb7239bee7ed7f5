/// <reference path="./wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/reconciler@0.1.0' {
  /**
   * Called once per instance with the `Plugin` object's `spec.config`
   * (JSON, `{}` when absent), before any reconcile.
   */
  export function init(config: string): Registration;
  /**
   * Brings the world in line with the primary object `namespace/name`
   * (which may no longer exist). An error is retried with backoff.
   */
  export function reconcile(namespace: string | undefined, name: string): Outcome;
  export type Kind = import('wharf:plugin/types@0.1.0').Kind;
  /**
   * What the controller reconciles and what it watches.
   */
  export interface Registration {
    /**
     * Events on objects of this kind enqueue their own key.
     */
    primary: Kind,
    /**
     * Events on objects of these kinds enqueue the key of their
     * controlling owner (an ownerReference with `controller: true`) of
     * the primary kind.
     */
    owns: Array<Kind>,
    /**
     * Further kinds the controller reads; the host caches them, but
     * their events enqueue nothing.
     */
    reads: Array<Kind>,
    /**
     * Every primary key is reconciled again this often; 0 turns it off.
     */
    resyncSeconds: number,
  }
  /**
   * How a reconcile ended.
   */
  export type Outcome = OutcomeDone | OutcomeRequeueAfter;
  /**
   * Nothing more to do until something changes.
   */
  export interface OutcomeDone {
    tag: 'done',
  }
  /**
   * Reconcile this key again after so many milliseconds.
   */
  export interface OutcomeRequeueAfter {
    tag: 'requeue-after',
    val: number,
  }
}
