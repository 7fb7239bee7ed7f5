//! The cluster's certificates, as kubeadm lays them out: one CA that signs
//! the API server's serving certificate and every client certificate
//! (ECDSA P-256 keys, made with rcgen), and who a client certificate names
//! (kube's x509 authenticator: the subject's common name is the user, each
//! organization a group).
//!
//! The CA's key is written 0600 in a 0700 directory; nothing else of it
//! leaves this crate.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use time::OffsetDateTime;

mod csr;
mod jwt;
mod tls;

pub use csr::{
    Purpose, Requested, ca_cert_hash, inspect_request, new_bootstrap_token, new_request,
    parse_bootstrap_token,
};
pub use jwt::{TokenError, TokenKey};
pub use tls::server_config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Certificate(String),
}

impl From<rcgen::Error> for Error {
    fn from(error: rcgen::Error) -> Self {
        Error::Certificate(error.to_string())
    }
}

/// How long the CA is valid (kubeadm's: ten years).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a serving or client certificate is valid (kubeadm's: a year).
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates are valid from a little before they are made, so that a
/// peer whose clock is slightly behind accepts them.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// The certificate's DER (the first one of the PEM).
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, Error> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| Error::Certificate(format!("a certificate: {e}")))
    }

    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, Error> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::Certificate(format!("a private key: {e}")))
    }

    /// Writes both, the key 0600.
    pub fn write(&self, cert: &Path, key: &Path) -> Result<(), Error> {
        write_file(cert, self.cert_pem.as_bytes(), 0o644)?;
        write_file(key, self.key_pem.as_bytes(), 0o600)
    }
}

/// What a certificate is for.
pub enum Usage<'a> {
    /// A TLS server known by these DNS names and addresses.
    Server {
        common_name: &'a str,
        dns_names: &'a [String],
        addresses: &'a [IpAddr],
    },
    /// A client: `user` is its common name, `group` its organization.
    /// (rcgen writes one organization per name; certificates made
    /// elsewhere may carry several, and each is a group.)
    Client {
        user: &'a str,
        group: Option<&'a str>,
    },
}

/// The cluster's certificate authority.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA named `common_name`, in memory.
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, CA_VALIDITY);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `dir` (`ca.crt`, `ca.key`), made there first if it is
    /// not (the directory 0700, the key 0600).
    pub fn load_or_generate(dir: &Path, common_name: &str) -> Result<Self, Error> {
        let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
        if cert_path.exists() || key_path.exists() {
            let cert_pem = read(&cert_path)?;
            let key_pem = read(&key_path)?;
            let key = KeyPair::from_pem(&key_pem)
                .map_err(|e| Error::Certificate(format!("{}: {e}", key_path.display())))?;
            let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
                .map_err(|e| Error::Certificate(format!("{}: {e}", cert_path.display())))?;
            return Ok(Self { cert_pem, issuer });
        }
        create_private_dir(dir)?;
        let ca = Self::generate(common_name)?;
        write_file(&key_path, ca.issuer.key().serialize_pem().as_bytes(), 0o600)?;
        write_file(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
        Ok(ca)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A new key and a certificate for it, signed by this CA, valid for
    /// [`LEAF_VALIDITY`].
    pub fn issue(&self, usage: &Usage) -> Result<Issued, Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        match usage {
            Usage::Server {
                common_name,
                dns_names,
                addresses,
            } => {
                params
                    .distinguished_name
                    .push(DnType::CommonName, *common_name);
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                for name in *dns_names {
                    params.subject_alt_names.push(SanType::DnsName(
                        name.clone().try_into().map_err(|e: rcgen::Error| {
                            Error::Certificate(format!("{name:?} as a DNS name: {e}"))
                        })?,
                    ));
                }
                params
                    .subject_alt_names
                    .extend(addresses.iter().copied().map(SanType::IpAddress));
            }
            Usage::Client { user, group } => {
                params.distinguished_name.push(DnType::CommonName, *user);
                if let Some(group) = group {
                    params
                        .distinguished_name
                        .push(DnType::OrganizationName, *group);
                }
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        validity(&mut params, LEAF_VALIDITY);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The names every API server's certificate covers, besides those given:
/// `localhost`, loopback, and the `kubernetes` Service's names and
/// ClusterIP (in-cluster clients reach the API through it).
pub fn default_serving_names(service_ip: IpAddr) -> (Vec<String>, Vec<IpAddr>) {
    (
        [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .map(String::from)
        .to_vec(),
        vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            service_ip,
        ],
    )
}

/// What one API server presents and hands out: the cluster CA (kept in
/// its directory), a serving certificate for its names and an admin
/// client certificate (`CN=wharf-admin, O=system:masters`), both made
/// anew on each start (a millisecond's work) so that they always cover
/// the names of this start.
pub struct ClusterPki {
    /// Shared: the API server's certificate signer holds it too.
    pub ca: std::sync::Arc<Ca>,
    pub serving: Issued,
    pub admin: Issued,
}

/// The admin's user and group.
pub const ADMIN_USER: &str = "wharf-admin";
pub const ADMIN_GROUP: &str = "system:masters";

impl ClusterPki {
    /// The CA in `dir` (made there if absent) and new certificates,
    /// written there too (`apiserver.crt`, `apiserver.key`).
    pub fn load_or_generate(
        dir: &Path,
        dns_names: &[String],
        addresses: &[IpAddr],
    ) -> Result<Self, Error> {
        let ca = Ca::load_or_generate(dir, "wharf-ca")?;
        let pki = Self::issue(ca, dns_names, addresses)?;
        pki.serving
            .write(&dir.join("apiserver.crt"), &dir.join("apiserver.key"))?;
        Ok(pki)
    }

    /// A new CA and certificates, in memory (tests and benchmarks).
    pub fn generate(dns_names: &[String], addresses: &[IpAddr]) -> Result<Self, Error> {
        Self::issue(Ca::generate("wharf-ca")?, dns_names, addresses)
    }

    fn issue(ca: Ca, dns_names: &[String], addresses: &[IpAddr]) -> Result<Self, Error> {
        let serving = ca.issue(&Usage::Server {
            common_name: "kube-apiserver",
            dns_names,
            addresses,
        })?;
        let admin = ca.issue(&Usage::Client {
            user: ADMIN_USER,
            group: Some(ADMIN_GROUP),
        })?;
        Ok(Self {
            ca: std::sync::Arc::new(ca),
            serving,
            admin,
        })
    }

    /// The API server's TLS configuration: this serving certificate, and
    /// client certificates of this CA.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, Error> {
        server_config(&self.serving, self.ca.cert_pem())
    }
}

/// Who a client certificate names, as kube's x509 authenticator reads it:
/// the subject's common name is the user, each organization a group.
/// `None` when the certificate cannot be parsed or names no user.
pub fn client_identity(cert: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if user.is_empty() {
        return None;
    }
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((user, groups))
}

fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + lifetime;
    // A random positive serial (RFC 5280: at most 20 octets).
    let mut serial = [0u8; 16];
    // ring's system random cannot fail on Linux (getrandom); a zero
    // serial would still make a valid certificate.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and its parents) and makes it 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

/// Writes `contents` to `path` with `mode`, through a temporary file
/// renamed into place: a reader never sees half a key, and a key is never
/// readable by others even for a moment.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests;
