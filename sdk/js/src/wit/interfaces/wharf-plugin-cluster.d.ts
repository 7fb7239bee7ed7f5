/// <reference path="./wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/cluster@0.1.0' {
  /**
   * The object as JSON, or none when it does not exist.
   */
  export function get(kind: Kind, namespace: string | undefined, name: string): string | undefined;
  /**
   * The matching objects, each as JSON.
   */
  export function list(kind: Kind, options: ListOptions): Array<string>;
  /**
   * Creates an object (JSON; `metadata.generateName` works); returns it as stored.
   */
  export function create(kind: Kind, namespace: string | undefined, object: string): string;
  /**
   * Creates several objects of one kind; the host writes them
   * concurrently (as Kubernetes' slow-start batches do). One result per
   * object, in order.
   */
  export function createAll(kind: Kind, namespace: string | undefined, objects: Array<string>): Array<Result<string, ApiError>>;
  /**
   * Replaces an object; its `metadata.resourceVersion` guards the write.
   */
  export function update(kind: Kind, namespace: string | undefined, object: string): string;
  /**
   * Replaces an object's status (the `status` subresource).
   */
  export function updateStatus(kind: Kind, namespace: string | undefined, object: string): string;
  /**
   * Patches an object (or, with `status`, its status subresource).
   */
  export function patch(kind: Kind, namespace: string | undefined, name: string, patchType: PatchType, patch: string, status: boolean): string;
  /**
   * Deletes an object; the propagation policy is `Background`.
   */
  export { _delete as delete };
  function _delete(kind: Kind, namespace: string | undefined, name: string): void;
  export type Kind = import('wharf:plugin/types@0.1.0').Kind;
  export type ApiError = import('wharf:plugin/types@0.1.0').ApiError;
  /**
   * What to list.
   */
  export interface ListOptions {
    /**
     * Only this namespace; none lists every namespace.
     */
    namespace?: string,
    /**
     * A Kubernetes label selector (`app=web,tier in (a,b)`).
     */
    labelSelector?: string,
    /**
     * A Kubernetes field selector (`spec.nodeName=n1`).
     */
    fieldSelector?: string,
  }
  /**
   * How a patch is written, as the Kubernetes Content-Type names it.
   * # Variants
   * 
   * ## `"merge"`
   * 
   * application/merge-patch+json
   * ## `"json"`
   * 
   * application/json-patch+json
   * ## `"strategic"`
   * 
   * application/strategic-merge-patch+json
   */
  export type PatchType = 'merge' | 'json' | 'strategic';
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
