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
