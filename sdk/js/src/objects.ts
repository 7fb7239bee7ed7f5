/**
 * Kubernetes objects as plain JSON objects, typed by small hand-written
 * interfaces: the fields plugins commonly read, each interface open
 * (`[field: string]: unknown`) for everything else. They describe what the
 * API returns; nothing checks them at run time.
 *
 * @module
 */

/** `metadata` of every object. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [field: string]: unknown;
}

/** An entry of `metadata.ownerReferences`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any object: `apiVersion`, `kind`, `metadata` and whatever else it has. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** A `LabelSelector` (`spec.selector` of workloads). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  key: string;
  /** `In`, `NotIn`, `Exists` or `DoesNotExist`. */
  operator: string;
  values?: string[];
}

/** A condition in `status.conditions`. */
export interface Condition {
  type: string;
  /** `True`, `False` or `Unknown`. */
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
  [field: string]: unknown;
}

// --- core/v1 ---

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

export interface Secret extends KubeObject {
  /** Base64-encoded values. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

export interface Namespace extends KubeObject {
  status?: { phase?: string; [field: string]: unknown };
}

export interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; [field: string]: unknown }>;
  ports?: Array<{ containerPort: number; name?: string; protocol?: string; [field: string]: unknown }>;
  resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  securityContext?: Record<string, unknown>;
  [field: string]: unknown;
}

/** An ephemeral container (`kubectl debug`): a container with a target. */
export interface EphemeralContainer extends Container {
  targetContainerName?: string;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: EphemeralContainer[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  serviceAccountName?: string;
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec?: PodSpec;
}

export interface Pod extends KubeObject {
  spec?: PodSpec;
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Condition[];
    [field: string]: unknown;
  };
}

export interface Service extends KubeObject {
  spec?: {
    selector?: Record<string, string>;
    type?: string;
    clusterIP?: string;
    ports?: Array<{ port: number; targetPort?: number | string; name?: string; protocol?: string; [field: string]: unknown }>;
    [field: string]: unknown;
  };
}

export interface Node extends KubeObject {
  spec?: { unschedulable?: boolean; podCIDR?: string; [field: string]: unknown };
  status?: { conditions?: Condition[]; [field: string]: unknown };
}

// --- workloads: apps/v1 and batch/v1 ---

/** The spec shared by Deployments, ReplicaSets, StatefulSets and DaemonSets. */
export interface WorkloadSpec {
  selector?: LabelSelector;
  template?: PodTemplateSpec;
  [field: string]: unknown;
}

export interface Deployment extends KubeObject {
  spec?: WorkloadSpec & { replicas?: number };
  status?: { replicas?: number; readyReplicas?: number; conditions?: Condition[]; [field: string]: unknown };
}

export interface ReplicaSet extends KubeObject {
  spec?: WorkloadSpec & { replicas?: number };
  status?: { replicas?: number; readyReplicas?: number; [field: string]: unknown };
}

export interface StatefulSet extends KubeObject {
  spec?: WorkloadSpec & { replicas?: number; serviceName?: string };
}

export interface DaemonSet extends KubeObject {
  spec?: WorkloadSpec;
}

export interface ReplicationController extends KubeObject {
  spec?: { replicas?: number; selector?: Record<string, string>; template?: PodTemplateSpec; [field: string]: unknown };
}

export interface Job extends KubeObject {
  spec?: WorkloadSpec & { completions?: number; parallelism?: number; backoffLimit?: number };
  status?: { succeeded?: number; failed?: number; active?: number; conditions?: Condition[]; [field: string]: unknown };
}

export interface CronJob extends KubeObject {
  spec?: {
    schedule?: string;
    suspend?: boolean;
    jobTemplate?: { metadata?: ObjectMeta; spec?: WorkloadSpec };
    [field: string]: unknown;
  };
}
