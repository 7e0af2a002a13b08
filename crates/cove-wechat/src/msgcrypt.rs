//! Message-callback crypto ("WXBizMsgCrypt") shared by Official Accounts, Mini Program message
//! push, the Open Platform and WeCom.
//!
//! * Key: `Base64(EncodingAESKey + "=")`, 32 bytes, trailing bits of the 43rd character allowed.
//! * Cipher: AES-256-CBC, IV = first 16 key bytes, PKCS#7 to **32-byte** blocks (pad 1..=32).
//! * Plaintext: `random(16) ‖ BE32(len in bytes) ‖ msg ‖ receiveid`.
//! * Signature: lowercase hex SHA-1 of the lexicographically sorted, concatenated fields,
//!   compared in constant time.
//!
//! ```
//! use cove_wechat::msgcrypt::MsgCrypt;
//!
//! let crypt = MsgCrypt::new("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?;
//! let envelope = crypt.encrypt_reply("<xml><Content>hi</Content></xml>", "1409304348", "nonce")?;
//! let body = crypt.parse_envelope(&envelope)?;
//! // The sender's signature travels in the query string; here we recompute it.
//! let sig = crypt.msg_signature("1409304348", "nonce", &body.encrypt);
//! let plain = crypt.decrypt_message(&sig, "1409304348", "nonce", &envelope)?;
//! assert_eq!(plain, "<xml><Content>hi</Content></xml>");
//! # Ok::<(), cove_wechat::Error>(())
//! ```

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result, XmlError};
use crate::xml;

/// PKCS#7 block size used by WXBizMsgCrypt (not the AES block size).
pub const PAD_BLOCK: usize = 32;

/// Base64 engine accepting the non-zero trailing bits found in real EncodingAESKeys.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Decodes a 43-character EncodingAESKey into the 32-byte AES key (`-40004` on failure).
///
/// The 43rd character carries two trailing bits that are often non-zero; they are ignored.
pub fn decode_encoding_aes_key(encoding_aes_key: &str) -> Result<[u8; 32]> {
    if encoding_aes_key.len() != 43 {
        return Err(Error::IllegalAesKey("EncodingAESKey must be 43 characters"));
    }
    if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::IllegalAesKey(
            "EncodingAESKey must contain only [a-zA-Z0-9]",
        ));
    }
    let bytes = LENIENT_B64
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| Error::IllegalAesKey("EncodingAESKey is not valid Base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| Error::IllegalAesKey("EncodingAESKey does not decode to 32 bytes"))
}

/// Lowercase hex SHA-1 over the lexicographically sorted, concatenated `parts`.
///
/// With `[token, timestamp, nonce]` this is the Official Account `signature`; with
/// `[token, timestamp, nonce, encrypt]` it is `msg_signature`.
pub fn sorted_sha1(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex_lower(&hasher.finalize())
}

/// Compares a received signature with the expected one in constant time (`-40001` on mismatch).
///
/// The received value is compared case-insensitively (it is hex).
pub fn verify_signature(received: &str, expected: &str) -> Result<()> {
    let received = received.trim().to_ascii_lowercase();
    if bool::from(received.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::ValidateSignature)
    }
}

/// Official Account URL check (GET): verifies the 3-field `signature` and returns `echostr`
/// unchanged. The OA echostr is plaintext in every mode (WeCom differs: see
/// [`MsgCrypt::verify_url`]).
pub fn verify_oa_url<'a>(
    token: &str,
    signature: &str,
    timestamp: &str,
    nonce: &str,
    echostr: &'a str,
) -> Result<&'a str> {
    verify_signature(signature, &sorted_sha1(&[token, timestamp, nonce]))?;
    Ok(echostr)
}

/// Verifies the 3-field `signature` that accompanies every Official Account POST.
pub fn verify_oa_signature(
    token: &str,
    signature: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<()> {
    verify_signature(signature, &sorted_sha1(&[token, timestamp, nonce]))
}

/// The result of decrypting an `Encrypt` value without checking the receive id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The 16 opaque random bytes of the prefix.
    pub random: [u8; 16],
    /// The message (UTF-8).
    pub message: String,
    /// The receive id found after the message (AppID, CorpID, SuiteID, …).
    pub receive_id: String,
}

/// The fields of an encrypted callback envelope (XML or JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `ToUserName` / `tousername` (gh_ id or CorpID), when present.
    pub to_user_name: Option<String>,
    /// `AgentID` / `agentid` (WeCom), when present.
    pub agent_id: Option<String>,
    /// The `Encrypt` value.
    pub encrypt: String,
}

/// WXBizMsgCrypt for one account: Token, EncodingAESKey and receive id.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl MsgCrypt {
    /// Creates a crypt for `token`, `encoding_aes_key` and the expected `receive_id`
    /// (AppID for OA / Mini Program / Open Platform, CorpID for WeCom self-built apps).
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self> {
        Ok(Self {
            token: token.to_owned(),
            key: decode_encoding_aes_key(encoding_aes_key)?,
            receive_id: receive_id.to_owned(),
        })
    }

    /// The configured receive id.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The 4-field `msg_signature` over `encrypt`.
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sorted_sha1(&[&self.token, timestamp, nonce, encrypt])
    }

    /// Verifies a 4-field `msg_signature` in constant time (`-40001`).
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<()> {
        verify_signature(
            msg_signature,
            &self.msg_signature(timestamp, nonce, encrypt),
        )
    }

    /// Official Account URL check with this account's token (the echostr is returned unchanged).
    pub fn verify_oa_url<'a>(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &'a str,
    ) -> Result<&'a str> {
        verify_oa_url(&self.token, signature, timestamp, nonce, echostr)
    }

    /// WeCom URL check (GET): verifies the 4-field signature over the **encrypted** `echostr`,
    /// decrypts it and returns the plaintext to answer with (no quotes, BOM or newline).
    ///
    /// Query parameters must already be URL-decoded.
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String> {
        self.verify_msg_signature(msg_signature, timestamp, nonce, echostr)?;
        self.decrypt(echostr)
    }

    /// Encrypts `msg` with a fresh random prefix and returns the Base64 `Encrypt` value.
    pub fn encrypt(&self, msg: &str) -> Result<String> {
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        self.encrypt_with_random(msg.as_bytes(), &random)
    }

    /// Encrypts `msg` with the given 16-byte random prefix (deterministic; for golden tests).
    pub fn encrypt_with_random(&self, msg: &[u8], random: &[u8; 16]) -> Result<String> {
        let msg_len = u32::try_from(msg.len())
            .map_err(|_| Error::InvalidArgument("message longer than 4 GiB".to_owned()))?;
        let mut plain = Vec::with_capacity(16 + 4 + msg.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&msg_len.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(self.receive_id.as_bytes());
        pkcs7_pad(&mut plain);
        let len = plain.len();
        let cipher = Aes256CbcEnc::new((&self.key).into(), self.iv().into());
        let out = cipher
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map_err(|_| Error::EncryptAes)?;
        Ok(STANDARD.encode(out))
    }

    /// Decrypts an `Encrypt` value and checks the receive id (`-40005`). Does **not** check a
    /// signature: use [`MsgCrypt::decrypt_message`] or verify first.
    pub fn decrypt(&self, encrypt: &str) -> Result<String> {
        let decrypted = self.decrypt_unchecked(encrypt)?;
        let same = bool::from(
            decrypted
                .receive_id
                .as_bytes()
                .ct_eq(self.receive_id.as_bytes()),
        );
        if !same {
            return Err(Error::ValidateReceiveId {
                expected: self.receive_id.clone(),
                found: decrypted.receive_id,
            });
        }
        Ok(decrypted.message)
    }

    /// Decrypts an `Encrypt` value and returns the message together with the receive id found,
    /// without comparing it (for WeCom suite callbacks whose receive id varies).
    pub fn decrypt_unchecked(&self, encrypt: &str) -> Result<Decrypted> {
        let mut buf = STANDARD
            .decode(encrypt.trim().as_bytes())
            .map_err(|_| Error::DecodeBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(Error::DecryptAes(
                "ciphertext is not a non-empty multiple of 16 bytes",
            ));
        }
        let cipher = Aes256CbcDec::new((&self.key).into(), self.iv().into());
        let plain = cipher
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| Error::DecryptAes("block decryption failed"))?;
        let unpadded = pkcs7_unpad(plain)?;
        parse_plain(unpadded)
    }

    /// Verifies `msg_signature` over the envelope's `Encrypt` and decrypts it.
    ///
    /// `body` is the raw callback body: the XML envelope (`<xml>…<Encrypt>…</Encrypt></xml>`,
    /// safe or compat mode) or the WeCom JSON envelope (`{"encrypt": …}`).
    pub fn decrypt_message(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<String> {
        let envelope = self.parse_envelope(body)?;
        self.verify_msg_signature(msg_signature, timestamp, nonce, &envelope.encrypt)?;
        self.decrypt(&envelope.encrypt)
    }

    /// Parses an XML or JSON callback envelope (chosen by the first non-blank character).
    pub fn parse_envelope(&self, body: &str) -> Result<Envelope> {
        if body.trim_start().starts_with('{') {
            parse_json_envelope(body)
        } else {
            parse_xml_envelope(body)
        }
    }

    /// Encrypts `reply` and returns the safe-mode XML reply envelope (the exact template of the
    /// official samples).
    pub fn encrypt_reply(&self, reply: &str, timestamp: &str, nonce: &str) -> Result<String> {
        let encrypt = self.encrypt(reply)?;
        Ok(self.reply_envelope(&encrypt, timestamp, nonce))
    }

    /// Builds the XML reply envelope around an already encrypted value.
    pub fn reply_envelope(&self, encrypt: &str, timestamp: &str, nonce: &str) -> String {
        let signature = self.msg_signature(timestamp, nonce, encrypt);
        format!(
            "<xml>\n<Encrypt><![CDATA[{}]]></Encrypt>\n<MsgSignature><![CDATA[{}]]></MsgSignature>\n<TimeStamp>{}</TimeStamp>\n<Nonce><![CDATA[{}]]></Nonce>\n</xml>",
            xml::cdata_escape(encrypt),
            xml::cdata_escape(&signature),
            xml::text_escape(timestamp),
            xml::cdata_escape(nonce)
        )
    }

    /// Encrypts `reply` and returns the WeCom JSON reply envelope
    /// `{"encrypt","msgsignature","timestamp","nonce"}`.
    pub fn encrypt_reply_json(&self, reply: &str, timestamp: &str, nonce: &str) -> Result<String> {
        let encrypt = self.encrypt(reply)?;
        let signature = self.msg_signature(timestamp, nonce, &encrypt);
        let value = serde_json::json!({
            "encrypt": encrypt,
            "msgsignature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
        });
        Ok(value.to_string())
    }

    fn iv(&self) -> &[u8; 16] {
        let (iv, _) = self
            .key
            .split_first_chunk::<16>()
            .unwrap_or((&[0; 16], &[]));
        iv
    }
}

fn parse_xml_envelope(body: &str) -> Result<Envelope> {
    let doc = xml::parse(body)?;
    let encrypt = doc
        .text("Encrypt")
        .filter(|s| !s.is_empty())
        .ok_or(XmlError::MissingField("Encrypt"))?
        .to_owned();
    Ok(Envelope {
        to_user_name: doc.text("ToUserName").map(str::to_owned),
        agent_id: doc.text("AgentID").map(str::to_owned),
        encrypt,
    })
}

fn parse_json_envelope(body: &str) -> Result<Envelope> {
    if body.len() > xml::DEFAULT_MAX_BYTES {
        return Err(XmlError::TooLarge {
            len: body.len(),
            limit: xml::DEFAULT_MAX_BYTES,
        }
        .into());
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| Error::ParseJson(e.to_string()))?;
    let field = |name: &str| -> Option<String> {
        match value.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let encrypt = field("encrypt")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::ParseJson("missing \"encrypt\"".to_owned()))?;
    Ok(Envelope {
        to_user_name: field("tousername"),
        agent_id: field("agentid"),
        encrypt,
    })
}

/// Appends PKCS#7 padding to a multiple of [`PAD_BLOCK`] (always 1..=32 bytes).
fn pkcs7_pad(buf: &mut Vec<u8>) {
    let n = PAD_BLOCK - buf.len() % PAD_BLOCK;
    // n is in 1..=32, so it always fits a byte.
    let byte = u8::try_from(n).unwrap_or(32);
    buf.resize(buf.len() + n, byte);
}

/// Strips PKCS#7 padding with block size 32: pad value in 1..=32, all pad bytes equal.
fn pkcs7_unpad(buf: &[u8]) -> Result<&[u8]> {
    let Some(&last) = buf.last() else {
        return Err(Error::BadPadding("empty plaintext"));
    };
    let n = usize::from(last);
    if n == 0 {
        return Err(Error::BadPadding("pad byte is 0"));
    }
    if n > PAD_BLOCK {
        return Err(Error::BadPadding("pad byte exceeds 32"));
    }
    if n > buf.len() {
        return Err(Error::BadPadding("pad longer than plaintext"));
    }
    let (body, pad) = buf.split_at(buf.len() - n);
    // Constant-time over the pad bytes.
    let mut diff = 0u8;
    for &b in pad {
        diff |= b ^ last;
    }
    if diff != 0 {
        return Err(Error::BadPadding("inconsistent pad bytes"));
    }
    Ok(body)
}

fn parse_plain(buf: &[u8]) -> Result<Decrypted> {
    let Some((random, rest)) = buf.split_first_chunk::<16>() else {
        return Err(Error::IllegalBuffer(
            "plaintext shorter than the random prefix",
        ));
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return Err(Error::IllegalBuffer(
            "plaintext shorter than the length field",
        ));
    };
    let msg_len = usize::try_from(u32::from_be_bytes(*len))
        .map_err(|_| Error::IllegalBuffer("message length does not fit"))?;
    if msg_len > rest.len() {
        return Err(Error::IllegalBuffer("message length exceeds the plaintext"));
    }
    let (msg, receive_id) = rest.split_at(msg_len);
    let message = String::from_utf8(msg.to_vec())
        .map_err(|_| Error::IllegalBuffer("message is not UTF-8"))?;
    let receive_id = String::from_utf8(receive_id.to_vec())
        .map_err(|_| Error::IllegalBuffer("receive id is not UTF-8"))?;
    Ok(Decrypted {
        random: *random,
        message,
        receive_id,
    })
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_is_between_1_and_32() {
        for len in 0..100 {
            let mut v = vec![7u8; len];
            pkcs7_pad(&mut v);
            assert_eq!(v.len() % 32, 0);
            let n = v.len() - len;
            assert!((1..=32).contains(&n), "len {len} gave pad {n}");
            assert_eq!(pkcs7_unpad(&v).map(<[u8]>::len).ok(), Some(len));
        }
    }

    #[test]
    fn unpad_rejects_bad_values() {
        assert!(matches!(pkcs7_unpad(&[1, 2, 0]), Err(Error::BadPadding(_))));
        let mut v = vec![33u8; 64];
        assert!(matches!(pkcs7_unpad(&v), Err(Error::BadPadding(_))));
        v[60] = 4;
        v[61] = 3;
        v[62] = 4;
        v[63] = 4;
        assert!(matches!(pkcs7_unpad(&v), Err(Error::BadPadding(_))));
    }

    #[test]
    fn key_rules() {
        assert!(decode_encoding_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").is_ok());
        assert!(matches!(
            decode_encoding_aes_key("short"),
            Err(Error::IllegalAesKey(_))
        ));
        assert!(matches!(
            decode_encoding_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2+"),
            Err(Error::IllegalAesKey(_))
        ));
    }
}
