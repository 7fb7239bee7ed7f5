/**
 * Owner references: how a controller marks what it owns, as apimachinery's
 * `NewControllerRef` and `GetControllerOf` do. The host's garbage collector
 * deletes what an owner owned when the owner goes, and events on owned
 * objects wake the owner's reconcile (the registration's `owns`).
 *
 * @module
 */

import { Invalid } from "./errors";
import type { KubeObject, OwnerReference } from "./objects";

/**
 * A controlling owner reference to `owner` (`controller: true`,
 * `blockOwnerDeletion: true`), to put in an owned object's
 * `metadata.ownerReferences`. The owner must be as read from the cluster
 * (with `apiVersion`, `kind`, `name` and `uid`).
 */
export function ownerReference(owner: KubeObject): OwnerReference {
  const { apiVersion, kind } = owner;
  const name = owner.metadata?.name;
  const uid = owner.metadata?.uid;
  if (!apiVersion || !kind || !name || !uid) {
    throw new Invalid("an owner needs apiVersion, kind, metadata.name and metadata.uid: use the object as read");
  }
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** The controlling owner reference of `object` (the one with `controller: true`), if any. */
export function controllerOf(object: KubeObject): OwnerReference | undefined {
  return object.metadata?.ownerReferences?.find((reference) => reference.controller === true);
}

/** Whether `owner` is `object`'s controlling owner (compared by uid). */
export function isControlledBy(object: KubeObject, owner: KubeObject): boolean {
  const reference = controllerOf(object);
  const uid = owner.metadata?.uid;
  return reference !== undefined && uid !== undefined && reference.uid === uid;
}
