/// <reference path="./wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/events@0.1.0' {
  export function emit(event: Event): void;
  export type ObjectRef = import('wharf:plugin/types@0.1.0').ObjectRef;
  /**
   * # Variants
   * 
   * ## `"normal"`
   * 
   * ## `"warning"`
   */
  export type EventType = 'normal' | 'warning';
  export interface Event {
    regarding: ObjectRef,
    type: EventType,
    /**
     * A short CamelCase reason (`ScalingReplicaSet`).
     */
    reason: string,
    message: string,
  }
}
