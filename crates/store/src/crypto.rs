//! Secrets at rest: AES-256-GCM with a random 96-bit nonce per value, the key taken from the
//! environment or a 0600 key file created on first start; gateway keys are stored as SHA-256 hashes.

use crate::{Result, StoreError};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

const PREFIX: &str = "enc:v1:";

/// A secret string whose `Debug`/`Display` never show the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `sk-a…wxyz`: enough to recognise a key, never enough to use it.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Mask a credential for display.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    if n <= 8 {
        return "****".to_string();
    }
    let head: String = s.chars().take(4).collect();
    let tail: String = s.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Encrypts and decrypts provider secrets.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(****)")
    }
}

impl Cipher {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// Parse a 32-byte key given as 64 hex characters or base64.
    pub fn parse_key(text: &str) -> Result<[u8; 32]> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| StoreError::Crypto(e.to_string()))?
        } else {
            B64.decode(text).map_err(|_| {
                StoreError::Crypto(
                    "encryption key must be 32 bytes as 64 hex chars or base64".into(),
                )
            })?
        };
        bytes
            .try_into()
            .map_err(|_| StoreError::Crypto("encryption key must be exactly 32 bytes".into()))
    }

    /// The key from `env_value` if given, else from `DATA_DIR/secret.key`, created (mode 0600)
    /// with a random key when absent.
    pub fn load_or_create(env_value: Option<&str>, key_file: &Path) -> Result<Self> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return Ok(Self::from_key(&Self::parse_key(v)?));
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => Ok(Self::from_key(&Self::parse_key(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private(key_file, hex::encode(key).as_bytes())?;
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(blob)))
    }

    pub fn decrypt(&self, stored: &str) -> Result<Secret> {
        let blob = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| StoreError::Crypto("value is not an encrypted secret".into()))?;
        let blob = B64
            .decode(blob)
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
        if blob.len() < 12 + 16 {
            return Err(StoreError::Crypto("ciphertext too short".into()));
        }
        let (nonce, ct) = blob.split_at(12);
        let pt = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| {
                StoreError::Crypto(
                "cannot decrypt a stored secret: the encryption key changed or the data is corrupt"
                    .into(),
            )
            })?;
        String::from_utf8(pt)
            .map(Secret)
            .map_err(|_| StoreError::Crypto("decrypted secret is not UTF-8".into()))
    }
}

/// Write a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

/// The stored form of a gateway API key (hex SHA-256). Keys are 192-bit random values, so a
/// fast hash is enough: there is nothing to brute-force.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper() {
        let c = Cipher::from_key(&[7u8; 32]);
        let enc = c.encrypt("sk-live-123").unwrap();
        assert!(!enc.contains("sk-live"));
        assert_ne!(enc, c.encrypt("sk-live-123").unwrap(), "nonce must differ");
        assert_eq!(c.decrypt(&enc).unwrap().expose(), "sk-live-123");
        let other = Cipher::from_key(&[8u8; 32]);
        assert!(other.decrypt(&enc).is_err());
        let mut bad = enc.clone();
        bad.pop();
        bad.push('A');
        assert!(c.decrypt(&bad).is_err() || bad == enc);
    }

    #[test]
    fn key_file_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = Cipher::load_or_create(None, &path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let b = Cipher::load_or_create(None, &path).unwrap();
        assert_eq!(b.decrypt(&a.encrypt("x").unwrap()).unwrap().expose(), "x");
        let env_key = hex::encode([1u8; 32]);
        let c = Cipher::load_or_create(Some(&env_key), &path).unwrap();
        assert!(c.decrypt(&a.encrypt("x").unwrap()).is_err());
        assert!(Cipher::parse_key("short").is_err());
    }

    #[test]
    fn masking_and_debug() {
        assert_eq!(mask("sk-abcdefghijkl"), "sk-a…ijkl");
        assert_eq!(mask("short"), "****");
        assert_eq!(format!("{:?}", Secret::new("sk-abc")), "Secret(****)");
    }
}
