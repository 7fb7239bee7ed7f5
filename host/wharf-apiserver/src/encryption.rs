//! Encryption at rest, configured as kube-apiserver's
//! `--encryption-provider-config` is: an `EncryptionConfiguration`
//! (`apiserver.config.k8s.io/v1`) whose rules name resources (`secrets`,
//! `deployments.apps`, `*.apps`, `*.*`) and, for each, providers in order:
//! the first seals what is written, all of them open what is read. The
//! providers are `aesgcm` (AES-GCM with 128- or 256-bit keys, a random
//! nonce per write, the storage key as authenticated data, stored as
//! `k8s:enc:aesgcm:v1:<key name>:<nonce><ciphertext>` as kube stores it)
//! and `identity` (plain). `wharf up` writes one that seals Secrets with a
//! fresh key on first start ([`EncryptionConfig::ensure`]).

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use wharf_store::{Error as StoreError, Transformer};

const PREFIX: &str = "k8s:enc:";
const AESGCM_PREFIX: &str = "k8s:enc:aesgcm:v1:";

/// A loaded configuration: the store's [`Transformer`].
pub struct EncryptionConfig {
    rules: Vec<Rule>,
    random: SystemRandom,
}

struct Rule {
    /// `(group, plural)`; `*` matches any.
    resources: Vec<(String, String)>,
    providers: Vec<Provider>,
}

enum Provider {
    AesGcm(Vec<NamedKey>),
    Identity,
}

struct NamedKey {
    name: String,
    key: LessSafeKey,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<FileRule>,
}

#[derive(Deserialize)]
struct FileRule {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct FileKeys {
    #[serde(default)]
    keys: Vec<FileKey>,
}

#[derive(Deserialize)]
struct FileKey {
    name: String,
    secret: String,
}

impl EncryptionConfig {
    /// Parses an `EncryptionConfiguration` (YAML or JSON).
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if file
            .kind
            .as_deref()
            .is_some_and(|k| k != "EncryptionConfiguration")
        {
            return Err(format!(
                "kind is {:?}, not EncryptionConfiguration",
                file.kind.unwrap_or_default()
            ));
        }
        if let Some(version) = &file.api_version
            && version != "apiserver.config.k8s.io/v1"
        {
            return Err(format!(
                "apiVersion is {version:?}, not apiserver.config.k8s.io/v1"
            ));
        }
        let mut rules = Vec::new();
        for (index, rule) in file.resources.into_iter().enumerate() {
            let at = format!("resources[{index}]");
            if rule.resources.is_empty() || rule.providers.is_empty() {
                return Err(format!("{at}: a rule needs resources and providers"));
            }
            let resources = rule
                .resources
                .iter()
                .map(|name| parse_resource(name).map_err(|e| format!("{at}: {e}")))
                .collect::<Result<_, _>>()?;
            let providers = (rule.providers.iter().enumerate())
                .map(|(i, provider)| {
                    parse_provider(provider).map_err(|e| format!("{at}.providers[{i}]: {e}"))
                })
                .collect::<Result<_, _>>()?;
            rules.push(Rule {
                resources,
                providers,
            });
        }
        Ok(Self {
            rules,
            random: SystemRandom::new(),
        })
    }

    /// Reads the configuration at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the configuration at `path`, first writing one (mode 0600) that
    /// seals Secrets with a new random 256-bit key when there is none.
    pub fn ensure(path: &Path) -> Result<Self, String> {
        if !path.exists() {
            let mut key = [0u8; 32];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| "no randomness for a key".to_string())?;
            let secret = base64::engine::general_purpose::STANDARD.encode(key);
            let text = format!(
                "# Encryption at rest (kube-apiserver's --encryption-provider-config format).\n\
                 # Keep this file: without it the Secrets stored cannot be read.\n\
                 apiVersion: apiserver.config.k8s.io/v1\n\
                 kind: EncryptionConfiguration\n\
                 resources:\n\
                 - resources: [secrets]\n  \
                   providers:\n  \
                   - aesgcm:\n      \
                       keys:\n      \
                       - name: key1\n        \
                         secret: {secret}\n  \
                   - identity: {{}}\n"
            );
            write_private(path, text.as_bytes())?;
        }
        Self::load(path)
    }

    /// The rule for a storage key (`/registry/{group|core}/{plural}/…`).
    fn rule(&self, key: &str) -> Option<&Rule> {
        let rest = key.strip_prefix("/registry/")?;
        let mut parts = rest.splitn(3, '/');
        let group = match parts.next()? {
            "core" => "",
            group => group,
        };
        let plural = parts.next()?;
        self.rules.iter().find(|rule| {
            (rule.resources.iter())
                .any(|(g, p)| (g == "*" || g == group) && (p == "*" || p == plural))
        })
    }

    fn key_named<'a>(&'a self, rule: Option<&'a Rule>, name: &str) -> Option<&'a LessSafeKey> {
        fn in_rule<'a>(rule: &'a Rule, name: &str) -> Option<&'a LessSafeKey> {
            rule.providers.iter().find_map(|provider| match provider {
                Provider::AesGcm(keys) => keys.iter().find(|k| k.name == name).map(|k| &k.key),
                Provider::Identity => None,
            })
        }
        rule.and_then(|rule| in_rule(rule, name))
            .or_else(|| self.rules.iter().find_map(|rule| in_rule(rule, name)))
    }
}

impl Transformer for EncryptionConfig {
    fn covers(&self, key: &str) -> bool {
        self.rule(key)
            .is_some_and(|rule| matches!(rule.providers.first(), Some(Provider::AesGcm(_))))
    }

    fn seal(&self, key: &str, plain: &[u8]) -> Result<Bytes, StoreError> {
        let failed = |reason: &str| StoreError::Transform {
            key: key.to_string(),
            action: "sealed",
            reason: reason.to_string(),
        };
        let Some(Provider::AesGcm(keys)) = self.rule(key).and_then(|r| r.providers.first()) else {
            return Ok(Bytes::copy_from_slice(plain));
        };
        let named = keys
            .first()
            .ok_or_else(|| failed("the aesgcm provider has no key"))?;
        let mut nonce = [0u8; NONCE_LEN];
        (self.random.fill(&mut nonce)).map_err(|_| failed("no randomness for a nonce"))?;
        let mut sealed = plain.to_vec();
        named
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| failed("AES-GCM failed"))?;
        let mut out = Vec::with_capacity(
            AESGCM_PREFIX.len() + named.name.len() + 1 + NONCE_LEN + sealed.len(),
        );
        out.extend_from_slice(AESGCM_PREFIX.as_bytes());
        out.extend_from_slice(named.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Bytes::from(out))
    }

    fn may_open(&self, key: &str, stored: &[u8]) -> bool {
        stored.starts_with(PREFIX.as_bytes()) || self.covers(key)
    }

    fn open(&self, key: &str, stored: &Bytes) -> Result<Bytes, StoreError> {
        let failed = |reason: String| StoreError::Transform {
            key: key.to_string(),
            action: "opened",
            reason,
        };
        let rule = self.rule(key);
        if !stored.starts_with(PREFIX.as_bytes()) {
            // Plain: allowed where the resource's providers include
            // identity, or where no rule covers it.
            let identity =
                rule.is_none_or(|r| r.providers.iter().any(|p| matches!(p, Provider::Identity)));
            return if identity {
                Ok(stored.clone())
            } else {
                Err(failed(
                    "it is not encrypted and the identity provider is not configured for it".into(),
                ))
            };
        }
        let rest = stored
            .strip_prefix(AESGCM_PREFIX.as_bytes())
            .ok_or_else(|| failed("it was encrypted by a provider other than aesgcm".into()))?;
        let colon = (rest.iter().position(|b| *b == b':'))
            .ok_or_else(|| failed("the key name is missing".into()))?;
        let name = String::from_utf8_lossy(&rest[..colon]);
        let body = &rest[colon + 1..];
        let aes = self
            .key_named(rule, &name)
            .ok_or_else(|| failed(format!("no aesgcm key is named {name:?}")))?;
        if body.len() < NONCE_LEN {
            return Err(failed("the value is too short".into()));
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| failed("bad nonce".into()))?;
        let mut buffer = sealed.to_vec();
        let plain = aes
            .open_in_place(nonce, Aad::from(key.as_bytes()), &mut buffer)
            .map_err(|_| failed(format!("it does not decrypt with key {name:?}")))?;
        Ok(Bytes::copy_from_slice(plain))
    }
}

/// `secrets` → ("", "secrets"); `deployments.apps` → ("apps",
/// "deployments"); `*.apps`, `*.*`, `*.` (the core group).
fn parse_resource(name: &str) -> Result<(String, String), String> {
    let (plural, group) = match name.split_once('.') {
        Some((plural, group)) => (plural, group),
        None => (name, ""),
    };
    if plural.is_empty()
        || (plural != "*" && !plural.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
    {
        return Err(format!(
            "{name:?} is not a resource (secrets, deployments.apps, *.apps, *.*)"
        ));
    }
    Ok((group.to_string(), plural.to_string()))
}

fn parse_provider(
    provider: &serde_json::Map<String, serde_json::Value>,
) -> Result<Provider, String> {
    let (name, config) = match provider.iter().next() {
        Some(entry) if provider.len() == 1 => entry,
        _ => return Err("a provider is one of aesgcm or identity".into()),
    };
    match name.as_str() {
        "identity" => Ok(Provider::Identity),
        "aesgcm" => {
            let keys: FileKeys =
                serde_json::from_value(config.clone()).map_err(|e| format!("aesgcm: {e}"))?;
            if keys.keys.is_empty() {
                return Err("aesgcm needs at least one key".into());
            }
            let keys = (keys.keys.into_iter())
                .map(|FileKey { name, secret }| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(secret.trim())
                        .map_err(|e| format!("aesgcm key {name:?}: the secret is not base64: {e}"))?;
                    let algorithm = match bytes.len() {
                        16 => &AES_128_GCM,
                        32 => &AES_256_GCM,
                        n => {
                            return Err(format!(
                                "aesgcm key {name:?} is {n} bytes: it must be 16 or 32 (AES-128 or AES-256)"
                            ));
                        }
                    };
                    if name.is_empty() || name.contains(':') {
                        return Err(format!("aesgcm key name {name:?} must be non-empty and without ':'"));
                    }
                    let key = UnboundKey::new(algorithm, &bytes).map_err(|_| format!("aesgcm key {name:?} is unusable"))?;
                    Ok(NamedKey {
                        name,
                        key: LessSafeKey::new(key),
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Provider::AesGcm(keys))
        }
        other @ ("aescbc" | "secretbox" | "kms") => Err(format!(
            "the {other} provider is not supported here: use aesgcm (and identity)"
        )),
        other => Err(format!(
            "unknown provider {other:?}: use aesgcm or identity"
        )),
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY16: &str = "AAECAwQFBgcICQoLDA0ODw==";

    fn config(extra: &str) -> EncryptionConfig {
        EncryptionConfig::parse(&format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets, '*.apps']\n  providers:\n  - aesgcm:\n      keys:\n      \
             - {{name: new, secret: {KEY16}}}\n      - {{name: old, secret: {KEY32}}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn sealed_values_open_only_under_their_key() {
        let config = config("  - identity: {}\n");
        let key = "/registry/core/secrets/default/s";
        assert!(config.covers(key));
        assert!(config.covers("/registry/apps/deployments/default/d"));
        assert!(!config.covers("/registry/core/configmaps/default/c"));
        assert!(!config.covers("/wharf/modules/abc"));
        let plain = br#"{"data":{"password":"aHVudGVyMg=="}}"#;
        let sealed = config.seal(key, plain).unwrap();
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:new:"));
        assert!(!sealed.windows(8).any(|w| w == b"password"));
        // Two sealings differ (fresh nonces); both open.
        let again = config.seal(key, plain).unwrap();
        assert_ne!(sealed, again);
        assert_eq!(&config.open(key, &sealed).unwrap()[..], plain);
        // Moved to another key, it does not open.
        let moved = config.open("/registry/core/secrets/default/t", &sealed);
        assert!(
            matches!(moved, Err(StoreError::Transform { .. })),
            "{moved:?}"
        );
        // A flipped byte does not open either.
        let mut broken = sealed.to_vec();
        *broken.last_mut().unwrap() ^= 1;
        assert!(config.open(key, &Bytes::from(broken)).is_err());
        // Plain values from before encryption read back (identity is listed).
        assert_eq!(
            &config.open(key, &Bytes::from_static(plain)).unwrap()[..],
            plain
        );
    }

    #[test]
    fn the_old_key_still_opens_and_identity_is_needed_for_plain_values() {
        let config_old_first = EncryptionConfig::parse(&format!(
            "resources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - {{name: old, secret: {KEY32}}}\n"
        ))
        .unwrap();
        let key = "/registry/core/secrets/ns/x";
        let sealed = config_old_first.seal(key, b"v").unwrap();
        // Rotated: `new` seals, `old` still opens.
        let rotated = config("");
        assert_eq!(&rotated.open(key, &sealed).unwrap()[..], b"v");
        assert!(
            rotated
                .seal(key, b"v")
                .unwrap()
                .starts_with(b"k8s:enc:aesgcm:v1:new:")
        );
        // Without identity a plain value is refused, as kube refuses it.
        assert!(rotated.open(key, &Bytes::from_static(b"{}")).is_err());
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let bad = |text: &str| EncryptionConfig::parse(text).err().unwrap_or_default();
        assert!(bad("kind: Secret\n").contains("not EncryptionConfiguration"));
        assert!(
            bad("resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: []}\n")
                .contains("not supported")
        );
        assert!(
            bad("resources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys: [{name: k, secret: AAEC}]\n")
                .contains("must be 16 or 32")
        );
        assert!(
            bad("resources:\n- resources: [secrets]\n  providers: []\n")
                .contains("needs resources and providers")
        );
        assert!(
            bad("resources:\n- resources: ['Secrets']\n  providers: [identity: {}]\n")
                .contains("is not a resource")
        );
    }

    #[test]
    fn ensure_writes_a_private_configuration_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encryption-config.yaml");
        let first = EncryptionConfig::ensure(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = "/registry/core/secrets/default/s";
        let sealed = first.seal(key, b"x").unwrap();
        // The second start reads the same key.
        let second = EncryptionConfig::ensure(&path).unwrap();
        assert_eq!(&second.open(key, &sealed).unwrap()[..], b"x");
    }
}
