//! AES-GCM decryption of notification resources and downloaded certificates.

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The algorithm name carried in resources.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// An encrypted `resource` of a notification (or `encrypt_certificate` of `/v3/certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// `original_type` (`transaction`, `refund`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
    /// `algorithm` (`AEAD_AES_256_GCM`).
    pub algorithm: String,
    /// Base64 of ciphertext ‖ 16-byte tag.
    pub ciphertext: String,
    /// Associated data (may be empty or absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_data: Option<String>,
    /// 12-character nonce.
    pub nonce: String,
}

/// The merchant's APIv3 key: 32 ASCII bytes used directly as the AES-256 key (not Base64).
#[derive(Clone)]
pub struct ApiV3Key([u8; 32]);

impl std::fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

impl ApiV3Key {
    /// Wraps a 32-byte APIv3 key; any other length is refused (it would not be AES-256).
    pub fn new(key: &str) -> Result<Self> {
        <[u8; 32]>::try_from(key.as_bytes())
            .map(Self)
            .map_err(|_| Error::InvalidArgument("the APIv3 key must be exactly 32 bytes".into()))
    }

    /// Decrypts a resource (AES-256-GCM, 12-byte nonce, associated data as given).
    pub fn decrypt_resource(&self, resource: &EncryptedResource) -> Result<Vec<u8>> {
        if resource.algorithm != AEAD_AES_256_GCM {
            return Err(Error::Gcm("unsupported resource algorithm"));
        }
        if resource.nonce.len() != 12 {
            return Err(Error::Gcm("nonce must be 12 bytes"));
        }
        aes_gcm_decrypt(
            &self.0,
            resource.nonce.as_bytes(),
            resource.associated_data.as_deref().unwrap_or("").as_bytes(),
            &resource.ciphertext,
        )
    }

    /// Encrypts `plaintext` into a resource (used by stand-ins that emit notifications).
    pub fn encrypt_resource(
        &self,
        original_type: &str,
        associated_data: &str,
        nonce: &str,
        plaintext: &[u8],
    ) -> Result<EncryptedResource> {
        if nonce.len() != 12 {
            return Err(Error::Gcm("nonce must be 12 bytes"));
        }
        Ok(EncryptedResource {
            original_type: Some(original_type.to_owned()),
            algorithm: AEAD_AES_256_GCM.to_owned(),
            ciphertext: aes_gcm_encrypt(
                &self.0,
                nonce.as_bytes(),
                associated_data.as_bytes(),
                plaintext,
            )?,
            associated_data: Some(associated_data.to_owned()),
            nonce: nonce.to_owned(),
        })
    }
}

/// Low-level AES-GCM decryption of Base64 `ciphertext ‖ tag`.
///
/// Production resources use a 32-byte key and a 12-byte nonce ([`ApiV3Key`]); this function also
/// accepts 16-byte keys (AES-128-GCM) and 16-byte nonces so upstream SDK fixtures can be checked.
pub fn aes_gcm_decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext_b64: &str,
) -> Result<Vec<u8>> {
    let data = STANDARD
        .decode(ciphertext_b64.trim())
        .map_err(|_| Error::DecodeBase64)?;
    if data.len() < 16 {
        return Err(Error::Gcm("ciphertext shorter than the tag"));
    }
    let payload = Payload { msg: &data, aad };
    let out = match (key.len(), nonce.len()) {
        (32, 12) => AesGcm::<aes::Aes256, U12>::new_from_slice(key)
            .map_err(|_| Error::Gcm("bad key"))?
            .decrypt(nonce.into(), payload),
        (32, 16) => AesGcm::<aes::Aes256, U16>::new_from_slice(key)
            .map_err(|_| Error::Gcm("bad key"))?
            .decrypt(nonce.into(), payload),
        (16, 12) => AesGcm::<aes::Aes128, U12>::new_from_slice(key)
            .map_err(|_| Error::Gcm("bad key"))?
            .decrypt(nonce.into(), payload),
        (16, 16) => AesGcm::<aes::Aes128, U16>::new_from_slice(key)
            .map_err(|_| Error::Gcm("bad key"))?
            .decrypt(nonce.into(), payload),
        _ => {
            return Err(Error::Gcm(
                "key must be 16 or 32 bytes and nonce 12 or 16 bytes",
            ))
        }
    };
    out.map_err(|_| {
        Error::Gcm("authentication failed (wrong key, nonce, associated data or tampered data)")
    })
}

/// Low-level AES-256-GCM encryption (32-byte key, 12-byte nonce) returning Base64
/// `ciphertext ‖ tag`.
pub fn aes_gcm_encrypt(key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<String> {
    if key.len() != 32 || nonce.len() != 12 {
        return Err(Error::Gcm("key must be 32 bytes and nonce 12 bytes"));
    }
    let cipher =
        AesGcm::<aes::Aes256, U12>::new_from_slice(key).map_err(|_| Error::Gcm("bad key"))?;
    let out = cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Gcm("encryption failed"))?;
    Ok(STANDARD.encode(out))
}
