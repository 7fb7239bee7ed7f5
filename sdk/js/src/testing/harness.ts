/**
 * Plugins run over a {@link FakeCluster} as the host runs them: configured
 * once per instance (`configure`, then `registration`), then called; with
 * `console.*` recorded in the fake's logs, as the host routes it to its log.
 *
 * @module
 */

import { type Admission, AdmissionInstance, type AdmissionRequest, type Operation, parseRequest, type Response, type UserInfo } from "../admission";
import type { PluginConfig } from "../config";
import { type Action, type Controller, ControllerInstance } from "../controller";
import { Invalid } from "../errors";
import { type Kind, kindOf } from "../kinds";
import { routeConsole } from "../log";
import type { KubeObject } from "../objects";
import type { FakeCluster } from "./fake-cluster";
import { applyJsonPatch } from "./patch";

/** A controller instance over a fake cluster. */
export class ControllerHarness<Config = PluginConfig> {
  private readonly instance: ControllerInstance<Config>;

  constructor(
    readonly cluster: FakeCluster,
    controller: Controller<Config>,
    config: PluginConfig | string = {},
  ) {
    this.instance = new ControllerInstance(controller, config);
  }

  /** The registration `init` answered with (every field filled in). */
  get registration(): ControllerInstance<Config>["registration"] {
    return this.instance.registration;
  }

  /** What `configure` made of the config. */
  get config(): Config {
    return this.instance.config;
  }

  /** Reconciles `key` (`namespace/name`, or `name` for cluster-scoped kinds); exceptions propagate. */
  reconcile(key: string): Action {
    const slash = key.indexOf("/");
    const [namespace, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
    return withConsoleIn(this.cluster, () => this.instance.reconcile(this.cluster.backend, namespace, name));
  }
}

/**
 * A review request as a test writes it: the operation and the objects; the
 * kind, namespace and name default to the object's, the user to
 * `system:anonymous`.
 */
export interface ReviewInput<T extends KubeObject = KubeObject> {
  operation: Operation;
  object?: T;
  oldObject?: T;
  kind?: Kind;
  namespace?: string;
  name?: string;
  subResource?: string;
  user?: Partial<UserInfo>;
  dryRun?: boolean;
  uid?: string;
}

/** An admission plugin instance over a fake cluster. */
export class AdmissionHarness<Config = PluginConfig> {
  private readonly instance: AdmissionInstance<Config>;
  private last: AdmissionRequest | undefined;
  private lastObject: string | undefined;
  private reviews = 0;

  constructor(
    readonly cluster: FakeCluster,
    admission: Admission<Config>,
    config: PluginConfig | string = {},
  ) {
    this.instance = new AdmissionInstance(admission, config);
  }

  get registration(): AdmissionInstance<Config>["registration"] {
    return this.instance.registration;
  }

  get config(): Config {
    return this.instance.config;
  }

  /** Reviews one request, its objects sent as JSON text as the host sends them; exceptions propagate. */
  review(input: ReviewInput): Response {
    const subject = input.object ?? input.oldObject;
    const kind = input.kind ?? (subject ? kindOf(subject) : undefined);
    if (kind === undefined) throw new Invalid("a review needs a kind, or an object with apiVersion and kind");
    this.reviews += 1;
    this.lastObject = input.object === undefined ? undefined : JSON.stringify(input.object);
    const request = parseRequest({
      uid: input.uid ?? `00000000-0000-4000-9000-${this.reviews.toString(16).padStart(12, "0")}`,
      operation: input.operation,
      kind: { group: kind.group, version: kind.version, kind: kind.kind },
      subResource: input.subResource,
      namespace: input.namespace ?? subject?.metadata?.namespace,
      name: input.name ?? subject?.metadata?.name ?? "",
      object: this.lastObject,
      oldObject: input.oldObject === undefined ? undefined : JSON.stringify(input.oldObject),
      user: { username: input.user?.username ?? "system:anonymous", groups: input.user?.groups ?? ["system:unauthenticated"] },
      dryRun: input.dryRun ?? false,
    });
    this.last = request;
    return withConsoleIn(this.cluster, () => this.instance.review(this.cluster.backend, request));
  }

  /** The last request as the plugin saw it. */
  get lastRequest(): AdmissionRequest | undefined {
    return this.last;
  }

  /** The last request's object (as sent) with `response`'s patch applied. */
  patched<T extends KubeObject = KubeObject>(response: Response): T {
    if (this.lastObject === undefined) throw new Invalid("no request with an object was reviewed");
    const original = JSON.parse(this.lastObject) as unknown;
    const { decision } = response;
    return (decision.type === "patch" ? applyJsonPatch(original, decision.operations) : original) as T;
  }
}

/** Runs `body` with `console.*` recorded in the cluster's logs (printed too when WHARF_TEST_LOGS is set). */
function withConsoleIn<T>(cluster: FakeCluster, body: () => T): T {
  const print = Boolean((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.WHARF_TEST_LOGS);
  const stderr = console.error.bind(console);
  const restore = routeConsole((level, message) => {
    cluster.backend.log(level, message);
    if (print) stderr(`[${level}] ${message}`);
  });
  try {
    return body();
  } finally {
    restore();
  }
}
