"""Security as kubectl and the Python client meet it: HTTPS only, with the
cluster CA and the admin's client certificate in the kubeconfig `wharf up`
writes; who a request is from (`kubectl auth whoami`); 401 for a client
without credentials, except health, version and discovery."""

import json
import os
import socket
import ssl
import stat
import urllib.error
import urllib.request

import pytest
import yaml

from test_apiserver import eventually, request
from test_node import fail


def get_without_credentials(cluster, path):
    try:
        with urllib.request.urlopen(cluster.url + path, timeout=30, context=cluster.ssl_context(admin=False)) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def audit_events(cluster):
    path = os.path.join(cluster.dir, "audit.log")
    assert mode(path) == 0o600
    with open(path) as file:
        return [json.loads(line) for line in file]


def test_the_kubeconfig_speaks_https_with_the_admin_certificate(embedded_cluster):
    cluster = embedded_cluster
    with open(cluster.kubeconfig) as file:
        config = yaml.safe_load(file)
    assert config["clusters"][0]["cluster"]["server"] == cluster.url
    assert cluster.url.startswith("https://")
    # Keys are the owner's alone.
    assert mode(cluster.kubeconfig) == 0o600
    assert mode(os.path.join(cluster.dir, "pki")) == 0o700
    for key in ("ca.key", "apiserver.key"):
        assert mode(os.path.join(cluster.dir, "pki", key)) == 0o600

    assert "default" in cluster.kubectl("get", "namespaces", "-o", "name").stdout
    whoami = json.loads(cluster.kubectl("auth", "whoami", "-o", "json").stdout)
    assert whoami["kind"] == "SelfSubjectReview"
    assert whoami["status"]["userInfo"] == {
        "username": "wharf-admin", "groups": ["system:masters", "system:authenticated"]}

    import kubernetes
    api = kubernetes.client.AuthenticationV1Api(cluster.client())
    review = api.create_self_subject_review(kubernetes.client.V1SelfSubjectReview())
    assert review.status.user_info.username == "wharf-admin"
    assert "system:masters" in review.status.user_info.groups

    # The audit log has kubectl's request, in kube's Event format.
    def audited():
        [event] = [e for e in audit_events(cluster)
                   if e.get("objectRef", {}).get("resource") == "selfsubjectreviews"
                   and e.get("userAgent", "").startswith("kubectl")]
        return event
    event = eventually(audited)
    assert (event["apiVersion"], event["kind"], event["level"], event["stage"]) == (
        "audit.k8s.io/v1", "Event", "Metadata", "ResponseComplete")
    assert (event["verb"], event["user"]["username"], event["sourceIPs"]) == ("create", "wharf-admin", ["127.0.0.1"])
    assert event["objectRef"]["apiGroup"] == "authentication.k8s.io"
    assert event["responseStatus"]["code"] == 201
    assert event["annotations"]["authorization.k8s.io/decision"] == "allow"


def test_without_credentials_only_health_version_and_discovery_answer(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    for path in ("/livez", "/readyz", "/healthz", "/version", "/api", "/apis", "/apis/apps/v1", "/openapi/v3"):
        assert get_without_credentials(cluster, path) == 200, path
    for method, path in (("GET", "/api/v1/namespaces/default/secrets"), ("GET", "/api/v1/pods?watch=1"),
                         ("POST", "/api/v1/namespaces/default/configmaps"), ("DELETE", "/api/v1/namespaces/default")):
        status, body = request(cluster, method, path, body={"metadata": {"name": "x"}}, admin=False)
        assert (status, body["kind"], body["reason"], body["message"]) == (401, "Status", "Unauthorized", "Unauthorized"), path
    # A made-up bearer token is refused, even where anonymous may go.
    status, _ = request(cluster, "GET", "/version", admin=False, headers={"Authorization": "Bearer made-up"})
    assert status == 401

    # kubectl with a kubeconfig that trusts the CA but has a token the
    # server does not know.
    with open(cluster.kubeconfig) as file:
        config = yaml.safe_load(file)
    config["users"][0]["user"] = {"token": "made-up"}
    guessing = tmp_path / "guessing"
    guessing.write_text(yaml.safe_dump(config))
    result = cluster.kubectl("--kubeconfig", str(guessing), "get", "pods", check=False)
    assert result.returncode != 0
    assert "error: You must be logged in to the server" in result.stderr, result.stderr

    # Refused at the door, and still audited: an empty user, code 401.
    eventually(lambda: [e for e in audit_events(cluster)
                        if e["user"] == {} and e["verb"] == "list" and e["responseStatus"]["code"] == 401
                        and e["objectRef"].get("resource") == "secrets" and e["stage"] == "ResponseStarted"]
               or fail())


def test_plain_http_is_not_served_and_the_certificate_names_the_cluster(embedded_cluster):
    cluster = embedded_cluster
    # Plain HTTP gets Go's answer, as from kube-apiserver.
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(cluster.url.replace("https://", "http://") + "/version", timeout=10).read()
    assert plain.value.code == 400
    assert b"Client sent an HTTP request to an HTTPS server" in plain.value.read()
    context = ssl.create_default_context(cafile=cluster.ca_file)
    for name in ("localhost", "kubernetes", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"):
        with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="example.com")
    # A client that does not trust the cluster CA does not connect.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(cluster.url + "/version", timeout=10, context=ssl.create_default_context()).read()
    # kubectl reaches it by the names the certificate covers.
    result = cluster.kubectl("--server", f"https://localhost:{cluster.port}", "get", "namespace", "default", "-o", "name")
    assert result.stdout.strip() == "namespace/default"


def user_kubeconfig(cluster, tmp_path, user, group=None):
    """A kubeconfig for `user` (a certificate of the cluster CA), as
    `wharf kubeconfig` writes it."""
    from conftest import wharf_binary
    import subprocess
    path = tmp_path / f"{user}.kubeconfig"
    subprocess.run([wharf_binary(), "kubeconfig", "--data-dir", cluster.dir, "--user", user,
                    *(["--group", group] if group else []), "--output", str(path)], check=True)
    assert mode(path) == 0o600
    return str(path)


def test_rbac_lets_a_viewer_read_one_namespace_and_nothing_more(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    for role in ("cluster-admin", "admin", "edit", "view"):
        cluster.kubectl("get", "clusterrole", role)
    cluster.kubectl("create", "namespace", "team")
    cluster.kubectl("-n", "team", "create", "configmap", "settings", "--from-literal=a=b")
    cluster.kubectl("-n", "team", "create", "secret", "generic", "vault", "--from-literal=p=q")
    cluster.kubectl("-n", "team", "create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice")
    alice = user_kubeconfig(cluster, tmp_path, "alice", "developers")

    def as_alice(*args, check=True):
        return cluster.kubectl("--kubeconfig", alice, *args, check=check)

    whoami = json.loads(as_alice("auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"] == {"username": "alice", "groups": ["developers", "system:authenticated"]}
    # The authorizer sees the binding once the watch cache has (at once,
    # give or take a few milliseconds).
    eventually(lambda: "settings" in as_alice("-n", "team", "get", "configmaps", "-o", "name", check=False).stdout
               or fail())
    denied = as_alice("-n", "team", "get", "secrets", check=False)
    assert denied.returncode != 0
    assert ('Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" '
            'in API group "" in the namespace "team"') in denied.stderr, denied.stderr
    denied = as_alice("-n", "default", "get", "pods", check=False)
    assert 'cannot list resource "pods" in API group "" in the namespace "default"' in denied.stderr, denied.stderr
    # Refusals are audited too.
    eventually(lambda: [e for e in audit_events(cluster)
                        if e["user"]["username"] == "alice" and e["verb"] == "list"
                        and e["objectRef"] == {"resource": "secrets", "apiGroup": "", "apiVersion": "v1",
                                               "namespace": "team"}
                        and e["responseStatus"]["code"] == 403
                        and e["annotations"]["authorization.k8s.io/decision"] == "forbid"] or fail())
    denied = as_alice("-n", "team", "delete", "configmap", "settings", check=False)
    assert 'configmaps "settings" is forbidden: User "alice" cannot delete resource "configmaps"' in denied.stderr

    # kubectl auth can-i (SelfSubjectAccessReview).
    assert as_alice("auth", "can-i", "list", "pods", "-n", "team").stdout.strip() == "yes"
    refused = as_alice("auth", "can-i", "list", "secrets", "-n", "team", check=False)
    assert (refused.returncode, refused.stdout.strip()) == (1, "no")
    assert as_alice("auth", "can-i", "create", "deployments", "-n", "team", check=False).stdout.strip() == "no"
    assert cluster.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"

    # The Python client, as alice.
    import kubernetes
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=alice, client_configuration=configuration)
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    assert "settings" in [m.metadata.name for m in core.list_namespaced_config_map("team").items]
    with pytest.raises(kubernetes.client.ApiException) as error:
        core.list_namespaced_secret("team")
    assert error.value.status == 403
    assert json.loads(error.value.body)["reason"] == "Forbidden"

    # A SubjectAccessReview, by the admin, about alice.
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": "alice", "groups": ["developers"],
                       "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods"}}}
    status, body = request(cluster, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert (status, body["status"]["allowed"]) == (201, True)
    review["spec"]["resourceAttributes"]["resource"] = "secrets"
    status, body = request(cluster, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert (status, body["status"]["allowed"]) == (201, False)

    # An admin of a namespace may hand out view there, not cluster-admin
    # (kube's escalation rule); a Plugin is not hers to create.
    cluster.kubectl("create", "namespace", "lab")
    cluster.kubectl("-n", "lab", "create", "rolebinding", "alice-admin", "--clusterrole=admin", "--user=alice")
    eventually(lambda: as_alice("-n", "lab", "get", "rolebindings", check=False).returncode == 0 or fail())
    as_alice("-n", "lab", "create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob")
    escalating = as_alice("-n", "lab", "create", "rolebinding", "bob-root", "--clusterrole=cluster-admin",
                          "--user=bob", check=False)
    assert escalating.returncode != 0
    assert "is attempting to grant RBAC permissions not currently held" in escalating.stderr, escalating.stderr
    plugin = ("apiVersion: wharf.dev/v1alpha1\nkind: Plugin\nmetadata: {name: sneaky}\n"
              "spec: {type: controller, module: 'sha256:00', permissions: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]}\n")
    refused = cluster.kubectl("--kubeconfig", alice, "create", "-f", "-", input=plugin, check=False)
    assert 'plugins.wharf.dev is forbidden: User "alice" cannot create resource "plugins"' in refused.stderr, refused.stderr

    # Removing the binding takes the access away.
    cluster.kubectl("-n", "team", "delete", "rolebinding", "alice-view")
    eventually(lambda: as_alice("-n", "team", "get", "configmaps", check=False).returncode != 0 or fail())


def test_with_anonymous_auth_on_rbac_refuses_anonymous_requests_with_403(tmp_path):
    """`wharf up --anonymous-auth`: requests without credentials come in as
    `system:anonymous` and RBAC refuses what no binding allows."""
    from conftest import Cluster
    cluster = Cluster("embedded", ["--anonymous-auth", "--no-controllers"])
    try:
        status, body = request(cluster, "GET", "/api/v1/namespaces/default/pods", admin=False)
        assert (status, body["reason"]) == (403, "Forbidden")
        assert body["message"] == ('pods is forbidden: User "system:anonymous" cannot list resource "pods" '
                                   'in API group "" in the namespace "default"')
        assert get_without_credentials(cluster, "/version") == 200
        status, body = request(cluster, "GET", "/metrics", admin=False)
        assert (status, body["message"]) == (403, 'forbidden: User "system:anonymous" cannot get path "/metrics"')
        # Granted to anonymous, it is allowed.
        cluster.kubectl("create", "clusterrolebinding", "anonymous-view", "--clusterrole=view",
                        "--group=system:unauthenticated")
        eventually(lambda: request(cluster, "GET", "/api/v1/namespaces/default/pods", admin=False)[0] == 200 or fail())
    finally:
        cluster.cleanup()


def token_kubeconfig(cluster, tmp_path, token):
    """A kubeconfig that trusts the cluster CA and sends only `token`."""
    path = tmp_path / "token.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "robot",
        "clusters": [{"name": "wharf", "cluster": {"server": cluster.url, "certificate-authority": cluster.ca_file}}],
        "users": [{"name": "robot", "user": {"token": token}}],
        "contexts": [{"name": "robot", "context": {"cluster": "wharf", "user": "robot"}}],
    }))
    return str(path)


def jwt_claims(token):
    import base64
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_service_account_token_from_kubectl_create_token_acts_as_the_service_account(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    # The API server keeps the `kubernetes` Service on the first ClusterIP,
    # its endpoints on the server's address.
    service = json.loads(cluster.kubectl("-n", "default", "get", "service", "kubernetes", "-o", "json").stdout)
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [("https", 443, cluster.port)]
    endpoints = json.loads(cluster.kubectl("-n", "default", "get", "endpoints", "kubernetes", "-o", "json").stdout)
    assert endpoints["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                                     "ports": [{"name": "https", "port": cluster.port, "protocol": "TCP"}]}]
    slice_ = json.loads(cluster.kubectl("-n", "default", "get", "endpointslice", "kubernetes", "-o", "json").stdout)
    assert slice_["endpoints"][0]["addresses"] == ["127.0.0.1"]

    # Every namespace gets a `default` ServiceAccount and the cluster CA.
    cluster.kubectl("create", "namespace", "robots")
    eventually(lambda: cluster.kubectl("-n", "robots", "get", "serviceaccount", "default", check=False).returncode == 0
               or fail())
    published = eventually(lambda: json.loads(cluster.kubectl(
        "-n", "robots", "get", "configmap", "kube-root-ca.crt", "-o", "json").stdout))
    with open(cluster.ca_file) as file:
        assert published["data"]["ca.crt"] == file.read()

    cluster.kubectl("-n", "robots", "create", "serviceaccount", "r2")
    cluster.kubectl("-n", "robots", "create", "rolebinding", "r2-view", "--clusterrole=view",
                    "--serviceaccount=robots:r2")
    cluster.kubectl("-n", "robots", "create", "configmap", "parts", "--from-literal=a=b")
    cluster.kubectl("-n", "robots", "create", "secret", "generic", "keys", "--from-literal=a=b")

    token = cluster.kubectl("-n", "robots", "create", "token", "r2", "--duration=15m").stdout.strip()
    claims = jwt_claims(token)
    assert claims["sub"] == "system:serviceaccount:robots:r2"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["exp"] - claims["iat"] == 900
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "r2"
    short = cluster.kubectl("-n", "robots", "create", "token", "r2", "--duration=5m", check=False)
    assert "may not specify a duration less than 10 minutes" in short.stderr, short.stderr

    robot = token_kubeconfig(cluster, tmp_path, token)

    def as_robot(*args, check=True):
        return cluster.kubectl("--kubeconfig", robot, *args, check=check)

    whoami = json.loads(as_robot("auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"] == {
        "username": "system:serviceaccount:robots:r2",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:robots", "system:authenticated"]}
    eventually(lambda: "parts" in as_robot("-n", "robots", "get", "configmaps", "-o", "name", check=False).stdout
               or fail())
    assert as_robot("auth", "can-i", "list", "pods", "-n", "robots").stdout.strip() == "yes"
    denied = as_robot("-n", "robots", "get", "secrets", check=False)
    assert ('secrets is forbidden: User "system:serviceaccount:robots:r2" cannot list resource "secrets" '
            'in API group "" in the namespace "robots"') in denied.stderr, denied.stderr
    denied = as_robot("-n", "default", "get", "pods", check=False)
    assert 'cannot list resource "pods" in API group "" in the namespace "default"' in denied.stderr, denied.stderr

    # The Python client asks for a token the same way, and uses it.
    import kubernetes
    core = kubernetes.client.CoreV1Api(cluster.client())
    answer = core.create_namespaced_service_account_token(
        "r2", "robots", kubernetes.client.AuthenticationV1TokenRequest(
            spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)))
    configuration = kubernetes.client.Configuration(host=cluster.url, api_key={"authorization": answer.status.token},
                                                    api_key_prefix={"authorization": "Bearer"})
    configuration.ssl_ca_cert = cluster.ca_file
    robot_api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    assert [c.metadata.name for c in robot_api.list_namespaced_config_map("robots").items if c.metadata.name == "parts"]

    # A forged token, or one of a ServiceAccount that is gone, is 401.
    header, payload, signature = token.split(".")
    forged = token_kubeconfig(cluster, tmp_path, ".".join([header, payload[:-4] + "AAAA", signature]))
    refused = cluster.kubectl("--kubeconfig", forged, "-n", "robots", "get", "pods", check=False)
    assert "Unauthorized" in refused.stderr, refused.stderr
    cluster.kubectl("-n", "robots", "delete", "serviceaccount", "r2")
    refused = as_robot("-n", "robots", "get", "pods", check=False)
    assert "Unauthorized" in refused.stderr, refused.stderr


def test_pods_get_their_service_account_token_volume_unless_they_opt_out(embedded_cluster):
    cluster = embedded_cluster
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
                "spec": {"containers": [{"name": "c", "image": "none"}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    pod = json.loads(cluster.kubectl("get", "pod", "plain", "-o", "json").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    [volume] = pod["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]

    manifest["metadata"]["name"] = "opted-out"
    manifest["spec"]["automountServiceAccountToken"] = False
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    pod = json.loads(cluster.kubectl("get", "pod", "opted-out", "-o", "json").stdout)
    assert "volumes" not in pod["spec"]
