/**
 * `@wharf/sdk`: Wharf plugins in TypeScript or JavaScript.
 *
 * - {@link defineController} / {@link defineAdmission}: what a plugin's
 *   `src/plugin.ts` exports as default. `bin/build.mjs` wires it to the
 *   component's exports; nothing here imports the WIT bindings, so the same
 *   code runs in unit tests on plain Node (`@wharf/sdk/testing`).
 * - {@link Context} / {@link ControllerContext}: cluster reads and writes
 *   with plain objects, logs, the clock; events and state for controllers.
 * - {@link ApiError} and its cases; {@link Kinds}; helpers for owner
 *   references and label selectors.
 *
 * @module
 */

export {
  type Admission,
  type AdmissionDefinition,
  type AdmissionRegistration,
  type AdmissionRequest,
  type Decision,
  defineAdmission,
  jsonPatch,
  type Operation,
  type PatchOperation,
  Response,
  type StatusUpdate,
  type UserInfo,
} from "./admission";
export type {
  ClusterBackend,
  ControllerBackend,
  CreateResult,
  Event,
  EventType,
  ListOptions,
  LogLevel,
  ObjectRef,
  PatchType,
} from "./backend";
export { type Json, type PluginConfig } from "./config";
export {
  Context,
  ControllerContext,
  type Created,
  type ListParams,
  type PatchOptions,
  PluginState,
  rfc3339,
} from "./context";
export {
  type Action,
  type Controller,
  type ControllerDefinition,
  type ControllerRegistration,
  defineController,
  done,
  requeueAfter,
} from "./controller";
export {
  AlreadyExists,
  ApiError,
  type ApiErrorReason,
  Conflict,
  describeError,
  Forbidden,
  Invalid,
  NotFound,
} from "./errors";
export { jsonEqual } from "./json";
export { apiVersion, formatKind, type Kind, kind, kindOf, Kinds, sameKind } from "./kinds";
export type * from "./objects";
export { controllerOf, isControlledBy, ownerReference } from "./owner";
export { matchesLabels, type Operator, type Requirement, Selector } from "./selector";
