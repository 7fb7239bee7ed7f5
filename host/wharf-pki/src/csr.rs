//! Certificate signing requests, as a node agent makes them and the
//! cluster's signer answers them (kube's `certificates.k8s.io`): a new key
//! and a PKCS#10 request for it; what a request asks for; the CA's
//! certificate for a request, with the usages the signer decides (never
//! those the request asks for); the hash that pins a CA when a node joins
//! (kubeadm's `--discovery-token-ca-cert-hash`); bootstrap tokens.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::{Ca, Error, validity};

/// A new key, and a request for a certificate naming `common_name` (and
/// `organization`, the group), with `dns_names` and `addresses` for a
/// serving certificate. Both PEM: (request, key).
pub fn new_request(
    common_name: &str,
    organization: Option<&str>,
    dns_names: &[String],
    addresses: &[IpAddr],
) -> Result<(String, String), Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
    }
    for name in dns_names {
        params.subject_alt_names.push(SanType::DnsName(
            name.clone()
                .try_into()
                .map_err(|e: rcgen::Error| Error::Certificate(format!("{name:?}: {e}")))?,
        ));
    }
    params
        .subject_alt_names
        .extend(addresses.iter().copied().map(SanType::IpAddress));
    let request = params.serialize_request(&key)?;
    Ok((request.pem()?, key.serialize_pem()))
}

/// What a request asks for: its subject and alternative names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Requested {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub addresses: Vec<IpAddr>,
    /// Names of other kinds (emails, URIs): no signer here grants them.
    pub other_names: usize,
    /// The request asks to be a CA.
    pub ca: bool,
}

/// Parses a PEM request and checks its signature (its key signed it).
pub fn inspect_request(pem: &str) -> Result<Requested, Error> {
    let params = parse(pem)?;
    let mut requested = Requested {
        ca: !matches!(params.params.is_ca, IsCa::NoCa | IsCa::ExplicitNoCa),
        ..Requested::default()
    };
    for (kind, value) in params.params.distinguished_name.iter() {
        let text = match value {
            rcgen::DnValue::PrintableString(s) => s.to_string(),
            rcgen::DnValue::Utf8String(s) => s.clone(),
            other => format!("{other:?}"),
        };
        match kind {
            DnType::CommonName => requested.common_name = text,
            DnType::OrganizationName => requested.organizations.push(text),
            _ => {}
        }
    }
    for name in &params.params.subject_alt_names {
        match name {
            SanType::DnsName(name) => requested.dns_names.push(name.to_string()),
            SanType::IpAddress(address) => requested.addresses.push(*address),
            _ => requested.other_names += 1,
        }
    }
    Ok(requested)
}

fn parse(pem: &str) -> Result<CertificateSigningRequestParams, Error> {
    CertificateSigningRequestParams::from_pem(pem)
        .map_err(|e| Error::Certificate(format!("the certificate request: {e}")))
}

/// What a signed certificate may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    ClientAuth,
    ServerAuth,
}

impl Ca {
    /// A certificate for the request `pem`, valid for `lifetime`: its
    /// subject and names, this CA's choice of usages (digital signature,
    /// key encipherment, and `purpose`), never a CA.
    pub fn sign_request(
        &self,
        pem: &str,
        purpose: Purpose,
        lifetime: Duration,
    ) -> Result<String, Error> {
        let mut request = parse(pem)?;
        let params = &mut request.params;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match purpose {
            Purpose::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            Purpose::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        validity(params, lifetime);
        Ok(request.signed_by(&self.issuer)?.pem())
    }
}

/// kubeadm's pin of a CA: `sha256:` and the hex SHA-256 of the DER of the
/// (first) certificate's SubjectPublicKeyInfo.
pub fn ca_cert_hash(cert_pem: &str) -> Result<String, Error> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| Error::Certificate(format!("the CA certificate: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Error::Certificate(format!("the CA certificate: {e}")))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    Ok(format!(
        "sha256:{}",
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// A new bootstrap token as kubeadm makes them: `ID.SECRET`, six and
/// sixteen characters of `[a-z0-9]`.
pub fn new_bootstrap_token() -> (String, String) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut random = [0u8; 22];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    // 252 = 7 × 36: bytes at or above it are redrawn, so that every
    // character is equally likely.
    let mut chars = Vec::with_capacity(22);
    let mut pool = random.to_vec();
    while chars.len() < 22 {
        if pool.is_empty() {
            let mut more = [0u8; 22];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut more);
            pool.extend_from_slice(&more);
        }
        let byte = pool.pop().unwrap_or_default();
        if byte < 252 {
            chars.push(ALPHABET[(byte % 36) as usize] as char);
        }
    }
    let text: String = chars.into_iter().collect();
    (text[..6].to_string(), text[6..].to_string())
}

/// Whether `token` has a bootstrap token's form; its id and secret.
pub fn parse_bootstrap_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let valid = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (valid(id, 6) && valid(secret, 16)).then_some((id, secret))
}
