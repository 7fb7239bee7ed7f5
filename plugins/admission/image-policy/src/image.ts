// Image references as container runtimes read them: `[registry/]path[:tag][@digest]`,
// where a first component with a dot or a colon (or `localhost`) is the
// registry, and anything else is on Docker Hub (`nginx` is
// `docker.io/library/nginx`).

/** An image reference, split and normalized. */
export interface ImageReference {
  /** The registry host (`docker.io`, `ghcr.io`, `localhost:5000`), lower case. */
  registry: string;
  /** The path in the registry (`library/nginx`). */
  repository: string;
  /** The tag, when it has one. */
  tag?: string;
  /** The digest (`sha256:…`), when it is pinned by one. */
  digest?: string;
}

/** Docker Hub answers to these names too. */
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/** Parses an image reference; `undefined` when it is empty. */
export function parseImage(image: string): ImageReference | undefined {
  let rest = image.trim();
  if (rest === "") return undefined;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const { registry, repository } = splitRegistry(rest);
  return { registry, repository, tag, digest };
}

/** `registry/repository`: the reference without tag or digest (`docker.io/library/nginx`). */
export function imageName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

/**
 * An allowed-registries entry in the normal form of image names: a
 * registry host (`ghcr.io`, `localhost:5000`), or a prefix of image names
 * (`ghcr.io/acme`, `docker.io/library`). An entry without a registry host
 * is a path on Docker Hub, as written: `bitnami` is `docker.io/bitnami`, and
 * the official nginx image is `library/nginx`.
 */
export function normalizeRegistryEntry(entry: string): string {
  const text = entry.trim().replace(/\/+$/, "");
  const slash = text.indexOf("/");
  const first = slash < 0 ? text : text.slice(0, slash);
  if (isRegistryHost(first)) return canonicalHost(first) + (slash < 0 ? "" : text.slice(slash));
  return `docker.io/${text}`;
}

/** Whether the image's name is the entry or lies under it (`ghcr.io/acme` covers `ghcr.io/acme/app`, not `ghcr.io/acme-evil`). */
export function isUnder(name: string, entry: string): boolean {
  return name === entry || name.startsWith(`${entry}/`);
}

function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  if (slash >= 0 && isRegistryHost(first)) {
    const registry = canonicalHost(first);
    const repository = name.slice(slash + 1);
    // Docker Hub's official images live under library/.
    return { registry, repository: registry === "docker.io" && !repository.includes("/") ? `library/${repository}` : repository };
  }
  return { registry: "docker.io", repository: slash < 0 ? `library/${name}` : name };
}

function isRegistryHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? "docker.io" : lower;
}
