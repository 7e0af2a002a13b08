//! Mini Program helpers that need the user's `session_key`: `encryptedData` decryption
//! (AES-128-CBC, PKCS#7 with 16-byte blocks, `watermark.appid` checked) and `rawData` signatures.
//!
//! The `session_key` must never leave the server.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::error::{Error, Result};
use crate::msgcrypt::{hex_lower, verify_signature};

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Decrypts `encryptedData` from `wx.getUserInfo` / `getWeRunData` / … and checks that
/// `watermark.appid` equals `appid`. Returns the decrypted JSON.
pub fn decrypt_user_data(
    appid: &str,
    session_key: &str,
    iv: &str,
    encrypted_data: &str,
) -> Result<serde_json::Value> {
    let key: [u8; 16] = decode_16(session_key)?;
    let iv: [u8; 16] = decode_16(iv)?;
    let mut buf = STANDARD
        .decode(encrypted_data.trim())
        .map_err(|_| Error::DecodeBase64)?;
    let plain = Aes128CbcDec::new((&key).into(), (&iv).into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| Error::BadPadding("encryptedData padding or length is invalid"))?;
    let value: serde_json::Value = serde_json::from_slice(plain)?;
    let found = value
        .get("watermark")
        .and_then(|w| w.get("appid"))
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    if found != appid {
        return Err(Error::WatermarkMismatch {
            expected: appid.to_owned(),
            found: found.to_owned(),
        });
    }
    Ok(value)
}

/// Checks the `signature` of `rawData`: `sha1(rawData + session_key)`, lowercase hex.
pub fn verify_raw_data(raw_data: &str, session_key: &str, signature: &str) -> Result<()> {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.as_bytes());
    verify_signature(signature, &hex_lower(&hasher.finalize()))
}

fn decode_16(b64: &str) -> Result<[u8; 16]> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| Error::DecodeBase64)?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| Error::InvalidArgument("session_key and iv must decode to 16 bytes".into()))
}
