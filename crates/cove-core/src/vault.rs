//! Secrets and personal data encrypted at rest (AES-256-GCM), with the key
//! outside the database: `COVE_SECRET_KEY` (base64 of 32 bytes), or a key
//! file generated once under the data dir. Nodes sharing one PostgreSQL must
//! share the key, so production sets `COVE_SECRET_KEY` explicitly.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use std::path::Path;

/// Ciphertexts start with this tag so a future key rotation can tell versions apart.
const VERSION: &str = "v1:";

#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    /// Root of the signing keys derived per purpose by [`Vault::derive_key`].
    mac_root: [u8; 32],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([redacted])")
    }
}

impl Vault {
    pub fn from_key(key: &[u8; 32]) -> Self {
        use sha2::{Digest, Sha256};
        let mut root = Sha256::new();
        root.update(b"cove signing keys\0");
        root.update(key);
        Self {
            cipher: Aes256Gcm::new(key.into()),
            mac_root: root.finalize().into(),
        }
    }

    /// A signing key for one purpose (member codes, device QR signatures),
    /// derived from the secret key so that one key never serves two uses.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.mac_root)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The configured key, or the data dir's key file (created on first use).
    pub fn open(configured: Option<&Secret>, data_dir: &Path) -> anyhow::Result<Self> {
        let encoded = match configured {
            Some(key) => key.expose().trim().to_owned(),
            None => {
                let path = data_dir.join("secret.key");
                if !path.exists() {
                    std::fs::create_dir_all(data_dir)?;
                    let mut key = [0u8; 32];
                    rand::thread_rng().fill_bytes(&mut key);
                    write_private(&path, &STANDARD.encode(key))
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let bytes = STANDARD
            .decode(&encoded)
            .context("the secret key is not valid base64")?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("the secret key must be 32 bytes (base64 of 32 random bytes)")
        })?;
        Ok(Self::from_key(&key))
    }

    /// Encrypts `plain` with a fresh nonce: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &str) -> crate::Result<String> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| crate::Error::Internal(anyhow::anyhow!("encryption failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    pub fn open_sealed(&self, sealed: &str) -> crate::Result<Secret> {
        let fail = || {
            crate::Error::Internal(anyhow::anyhow!(
                "a sealed value could not be decrypted (wrong COVE_SECRET_KEY?)"
            ))
        };
        let body = sealed.strip_prefix(VERSION).ok_or_else(fail)?;
        let bytes = STANDARD.decode(body).map_err(|_| fail())?;
        if bytes.len() < 12 + 16 {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| fail())?;
        Ok(Secret::new(String::from_utf8(plain).map_err(|_| fail())?))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_differ_each_time() {
        let vault = Vault::from_key(&[7u8; 32]);
        let a = vault.seal("wx-app-secret").unwrap();
        let b = vault.seal("wx-app-secret").unwrap();
        assert_ne!(a, b, "fresh nonce per seal");
        assert!(!a.contains("wx-app-secret"));
        assert_eq!(vault.open_sealed(&a).unwrap().expose(), "wx-app-secret");
    }

    #[test]
    fn tampering_or_a_wrong_key_is_detected() {
        let vault = Vault::from_key(&[7u8; 32]);
        let sealed = vault.seal("secret").unwrap();
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(vault
            .open_sealed(&String::from_utf8(bytes).unwrap())
            .is_err());
        assert!(Vault::from_key(&[8u8; 32]).open_sealed(&sealed).is_err());
        assert!(vault.open_sealed("plain text").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vault::open(None, dir.path()).unwrap();
        let sealed = first.seal("x").unwrap();
        let again = Vault::open(None, dir.path()).unwrap();
        assert_eq!(again.open_sealed(&sealed).unwrap().expose(), "x");
        let bad = Secret::new("c2hvcnQ=");
        assert!(
            Vault::open(Some(&bad), dir.path()).is_err(),
            "a short key is refused"
        );
    }
}
