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

from test_apiserver import request


def get_without_credentials(cluster, path):
    try:
        with urllib.request.urlopen(cluster.url + path, timeout=30, context=cluster.ssl_context(admin=False)) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


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
