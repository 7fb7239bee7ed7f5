//! The key that signs ServiceAccount tokens, as kube-apiserver's
//! `--service-account-signing-key-file`: an ECDSA P-256 key of its own (not
//! the CA's), kept as `sa.key` beside the CA, and the compact JWTs it signs
//! and verifies (ES256, with the key's id in the header as kube writes it:
//! the unpadded base64url SHA-256 of the public key's DER).
//!
//! What a token's claims mean (issuer, audience, expiry, the bound
//! objects) is the API server's business; this module only signs and
//! checks signatures.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

use crate::{Error, create_private_dir, read, write_file};

/// Why a token was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT")]
    Malformed,
    #[error("the token is not signed with ES256 by this key")]
    WrongKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// The token signing key.
pub struct TokenKey {
    pair: EcdsaKeyPair,
    key_id: String,
    header: String,
}

impl TokenKey {
    /// A new key, in memory (tests and benchmarks).
    pub fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        Self::from_pkcs8(&key.serialize_der())
    }

    /// The key in `dir/sa.key` (PKCS#8 PEM), made there first if absent
    /// (0600, the directory 0700). A damaged key file is an error, never
    /// a new key: tokens already handed out would stop working.
    pub fn load_or_generate(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("sa.key");
        if path.exists() {
            let pem = read(&path)?;
            let key = KeyPair::from_pem(&pem)
                .map_err(|e| Error::Certificate(format!("{}: {e}", path.display())))?;
            return Self::from_pkcs8(&key.serialize_der())
                .map_err(|e| Error::Certificate(format!("{}: {e}", path.display())));
        }
        create_private_dir(dir)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        write_file(&path, key.serialize_pem().as_bytes(), 0o600)?;
        Self::from_pkcs8(&key.serialize_der())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| Error::Certificate(format!("not an ECDSA P-256 key: {e}")))?;
        let key_id = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            &public_key_der(pair.public_key().as_ref()),
        ));
        let header = URL_SAFE_NO_PAD.encode(
            json!({"alg": "ES256", "kid": key_id})
                .to_string()
                .as_bytes(),
        );
        Ok(Self {
            pair,
            key_id,
            header,
        })
    }

    /// The key's id (`kid` in every token's header).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A compact JWT with `claims`, signed.
    pub fn sign(&self, claims: &Value) -> Result<String, Error> {
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
        let signed = format!("{}.{payload}", self.header);
        let signature = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
            .map_err(|_| Error::Certificate("signing the token failed".into()))?;
        Ok(format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The claims of `token` if this key signed it.
    pub fn verify(&self, token: &str) -> Result<Value, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part.as_bytes())
                .map_err(|_| TokenError::Malformed)
        };
        let parsed: Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
        if parsed["alg"] != "ES256" || parsed["kid"].as_str() != Some(self.key_id.as_str()) {
            return Err(TokenError::WrongKey);
        }
        let signed_len = header.len() + 1 + payload.len();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
            .verify(&token.as_bytes()[..signed_len], &decode(signature)?)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Value =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
        if claims.is_object() {
            Ok(claims)
        } else {
            Err(TokenError::Malformed)
        }
    }
}

/// The SubjectPublicKeyInfo DER of an uncompressed P-256 point (what kube
/// hashes for the key id).
fn public_key_der(point: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(point);
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let key = TokenKey::generate().unwrap();
        let token = key.sign(&json!({"sub": "someone", "exp": 1})).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(key.verify(&token).unwrap()["sub"], "someone");

        let (head, _) = token.rsplit_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":1}"#);
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = format!("{header}.{forged_payload}.{signature}");
        assert_eq!(key.verify(&forged), Err(TokenError::BadSignature));
        assert_eq!(key.verify(head), Err(TokenError::Malformed));
        assert_eq!(key.verify("a.b.c.d"), Err(TokenError::Malformed));

        let other = TokenKey::generate().unwrap();
        assert_eq!(other.verify(&token), Err(TokenError::WrongKey));
    }

    #[test]
    fn the_key_is_kept_private_and_loaded_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let first = TokenKey::load_or_generate(&pki).unwrap();
        let mode = std::fs::metadata(pki.join("sa.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = TokenKey::load_or_generate(&pki).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        let token = first.sign(&json!({"sub": "x"})).unwrap();
        assert!(again.verify(&token).is_ok());

        std::fs::write(pki.join("sa.key"), "damaged").unwrap();
        assert!(TokenKey::load_or_generate(&pki).is_err());
    }
}
