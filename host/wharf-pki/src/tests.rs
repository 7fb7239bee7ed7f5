use super::*;

#[test]
fn a_client_certificate_names_its_user_and_group() {
    let ca = Ca::generate("wharf-ca").unwrap();
    let issued = ca
        .issue(&Usage::Client {
            user: "wharf-admin",
            group: Some("system:masters"),
        })
        .unwrap();
    let der = issued.cert_der().unwrap();
    assert_eq!(
        client_identity(&der),
        Some(("wharf-admin".into(), vec!["system:masters".into()]))
    );
    let anonymous = ca
        .issue(&Usage::Client {
            user: "",
            group: None,
        })
        .unwrap();
    assert_eq!(client_identity(&anonymous.cert_der().unwrap()), None);
    assert_eq!(client_identity(b"not a certificate"), None);
}

#[test]
fn the_ca_is_kept_with_a_private_key_and_loaded_again() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let first = Ca::load_or_generate(&pki, "wharf-ca").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&pki), 0o700);
    assert_eq!(mode(&pki.join("ca.key")), 0o600);
    let again = Ca::load_or_generate(&pki, "wharf-ca").unwrap();
    assert_eq!(first.cert_pem(), again.cert_pem());
    // What the loaded CA signs verifies against the first one's
    // certificate: a server configuration accepts it as a client CA, and
    // its serving certificate builds.
    let serving = again
        .issue(&Usage::Server {
            common_name: "kube-apiserver",
            dns_names: &["localhost".into(), "kubernetes.default.svc".into()],
            addresses: &["127.0.0.1".parse().unwrap()],
        })
        .unwrap();
    server_config(&serving, first.cert_pem()).unwrap();
    // A CA whose key file is damaged is an error, not a new CA.
    std::fs::write(pki.join("ca.key"), "garbage").unwrap();
    assert!(Ca::load_or_generate(&pki, "wharf-ca").is_err());
}

#[test]
fn a_request_is_signed_with_the_signers_usages_and_the_ca_is_pinned_by_hash() {
    let ca = Ca::generate("wharf-ca").unwrap();
    let (request, _key) = new_request("system:node:n1", Some("system:nodes"), &[], &[]).unwrap();
    let requested = inspect_request(&request).unwrap();
    assert_eq!(requested.common_name, "system:node:n1");
    assert_eq!(requested.organizations, ["system:nodes"]);
    assert!(!requested.ca && requested.other_names == 0);
    let cert = ca
        .sign_request(&request, Purpose::ClientAuth, Duration::from_secs(3600))
        .unwrap();
    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    assert_eq!(
        client_identity(&der),
        Some(("system:node:n1".into(), vec!["system:nodes".into()]))
    );
    // A serving request keeps its addresses.
    let address: IpAddr = "10.1.2.3".parse().unwrap();
    let (serving, _) = new_request("system:node:n1", None, &["n1".into()], &[address]).unwrap();
    let requested = inspect_request(&serving).unwrap();
    assert_eq!(
        (requested.dns_names, requested.addresses),
        (vec!["n1".to_string()], vec![address])
    );
    assert!(inspect_request("garbage").is_err());
    // The pin is sha256 of the public key: the same for the same CA.
    let hash = ca_cert_hash(ca.cert_pem()).unwrap();
    assert!(
        hash.starts_with("sha256:") && hash.len() == 7 + 64,
        "{hash}"
    );
    assert_ne!(
        hash,
        ca_cert_hash(Ca::generate("x").unwrap().cert_pem()).unwrap()
    );
}

#[test]
fn bootstrap_tokens_have_kubeadms_form() {
    let (id, secret) = new_bootstrap_token();
    let token = format!("{id}.{secret}");
    assert_eq!(
        parse_bootstrap_token(&token),
        Some((id.as_str(), secret.as_str()))
    );
    for bad in [
        "abcdef.0123456789abcdeF",
        "abcde.0123456789abcdef",
        "abcdef0123456789abcdef",
        "a.b",
    ] {
        assert_eq!(parse_bootstrap_token(bad), None, "{bad}");
    }
}
