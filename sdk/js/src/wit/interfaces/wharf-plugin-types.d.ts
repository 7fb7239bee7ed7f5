declare module 'wharf:plugin/types@0.1.0' {
  /**
   * A kind of object: `group` is empty for the core group ("" / "v1" / "Pod").
   */
  export interface Kind {
    group: string,
    version: string,
    kind: string,
  }
  /**
   * One object, by kind, namespace (none for cluster-scoped kinds) and name.
   */
  export interface ObjectRef {
    kind: Kind,
    namespace?: string,
    name: string,
  }
  /**
   * Why a cluster call failed, as the Kubernetes API would say it.
   */
  export type ApiError = ApiErrorNotFound | ApiErrorAlreadyExists | ApiErrorConflict | ApiErrorForbidden | ApiErrorInvalid | ApiErrorOther;
  /**
   * 404: the object (or its namespace) does not exist.
   */
  export interface ApiErrorNotFound {
    tag: 'not-found',
    val: string,
  }
  /**
   * 409: an object with that name exists.
   */
  export interface ApiErrorAlreadyExists {
    tag: 'already-exists',
    val: string,
  }
  /**
   * 409: the resourceVersion was stale; read again and retry.
   */
  export interface ApiErrorConflict {
    tag: 'conflict',
    val: string,
  }
  /**
   * 403: the plugin's permissions do not allow this.
   */
  export interface ApiErrorForbidden {
    tag: 'forbidden',
    val: string,
  }
  /**
   * 400/422: the object or request is invalid.
   */
  export interface ApiErrorInvalid {
    tag: 'invalid',
    val: string,
  }
  /**
   * Anything else (the host failed, a timeout…).
   */
  export interface ApiErrorOther {
    tag: 'other',
    val: string,
  }
}
