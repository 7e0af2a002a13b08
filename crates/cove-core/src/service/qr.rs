//! Device QR codes: printed-URL codes `https://<public url>/d/<TAG>?s=<sig>`
//! that open the device page in a browser and, through a URL-prefix rule,
//! the Mini Program. `sig` is a truncated HMAC of the tag under a key only
//! Cove holds, so a code proves that whoever scanned it had the device (or
//! its box or manual) in hand: binding accepts it as proof of possession.
//!
//! The key is generated once per deployment and stored sealed by the vault,
//! so every node signs alike and the database alone does not reveal it.

use super::tag::ServiceTag;
use crate::clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::vault::Vault;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use qrcode::{EcLevel, QrCode};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

const KEY_NAME: &str = "device_qr";
/// Bytes of HMAC kept: 64 bits, 11 characters in the URL.
const SIG_BYTES: usize = 8;
/// Pixels per module in PNGs, and quiet-zone modules around the code.
const PNG_SCALE: u32 = 8;
const QUIET_ZONE: u32 = 4;

/// The deployment's device-code signing key.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        SigningKey(key)
    }

    /// The stored key, created on first use (concurrent first uses agree on one).
    pub async fn load(db: &Db, vault: &Vault) -> Result<Self> {
        let mut fresh = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        sqlx::query(
            "INSERT INTO service_keys (name, sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_NAME)
        .bind(vault.seal(&STANDARD.encode(fresh))?)
        .bind(clock::now())
        .execute(db.pool())
        .await?;
        let sealed: String = sqlx::query_scalar("SELECT sealed FROM service_keys WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_one(db.pool())
            .await?;
        let bytes = STANDARD
            .decode(vault.open_sealed(&sealed)?.expose())
            .map_err(|e| Error::Internal(anyhow::anyhow!("the device QR key is corrupt: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Internal(anyhow::anyhow!("the device QR key is corrupt")))?;
        Ok(SigningKey(key))
    }

    /// The signature printed in a device's code.
    pub fn sign(&self, tag: &ServiceTag) -> String {
        URL_SAFE_NO_PAD.encode(&self.mac(tag)[..SIG_BYTES])
    }

    /// Whether `sig` is this deployment's signature of `tag` (constant time).
    pub fn verify(&self, tag: &ServiceTag, sig: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(sig.trim()) else {
            return false;
        };
        given.len() == SIG_BYTES && bool::from(given.ct_eq(&self.mac(tag)[..SIG_BYTES]))
    }

    fn mac(&self, tag: &ServiceTag) -> Vec<u8> {
        // Infallible: HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"cove.device.v1:");
        mac.update(tag.as_str().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The URL a device's code carries.
    pub fn device_url(&self, public_url: &str, tag: &ServiceTag) -> String {
        format!(
            "{}/d/{}?s={}",
            public_url.trim_end_matches('/'),
            tag,
            self.sign(tag)
        )
    }
}

/// A scanned device code: the tag and the signature, from the URL (or the
/// `q` parameter the Mini Program receives, already decoded once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub tag: ServiceTag,
    pub signature: Option<String>,
}

/// Parses `…/d/<TAG>` with an optional `?s=<sig>`; refuses anything else.
pub fn parse_scan(url: &str) -> Result<Scan> {
    let bad = || Error::invalid("invalid_device_code", "this is not a device code");
    let url = url.trim();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let (_, tag) = path.rsplit_once("/d/").ok_or_else(bad)?;
    let tag = ServiceTag::parse(tag).map_err(|_| bad())?;
    let mut signature = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(sig) = pair.strip_prefix("s=") {
            if sig.is_empty()
                || sig.len() > 32
                || !sig
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad());
            }
            signature = Some(sig.to_owned());
        }
    }
    Ok(Scan { tag, signature })
}

fn code(url: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| Error::invalid("qr_too_long", format!("cannot encode the QR code: {e}")))
}

/// An SVG of the code for `url` (scales without loss for print).
pub fn svg(url: &str) -> Result<String> {
    Ok(code(url)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// A PNG of the code for `url`: 8 pixels per module, 4-module quiet zone, greyscale.
pub fn png(url: &str) -> Result<Vec<u8>> {
    let code = code(url)?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % modules, i as u32 / modules);
        for dy in 0..PNG_SCALE {
            let y = (my + QUIET_ZONE) * PNG_SCALE + dy;
            let start = (y * side + (mx + QUIET_ZONE) * PNG_SCALE) as usize;
            pixels[start..start + PNG_SCALE as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let fail = |e: png::EncodingError| Error::Internal(anyhow::anyhow!("cannot encode a PNG: {e}"));
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&pixels).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes([7; 32])
    }

    #[test]
    fn signatures_verify_only_for_their_tag_and_key() {
        let tag = ServiceTag::parse("7QK2M9X").unwrap();
        let sig = key().sign(&tag);
        assert_eq!(sig.len(), 11);
        assert!(key().verify(&tag, &sig));
        assert!(!key().verify(&ServiceTag::parse("7QK2M9Y").unwrap(), &sig));
        assert!(!SigningKey::from_bytes([8; 32]).verify(&tag, &sig));
        assert!(!key().verify(&tag, ""));
        assert!(!key().verify(&tag, &sig[..10]));
    }

    #[test]
    fn scans_parse_back_to_tag_and_signature() {
        let tag = ServiceTag::parse("ABC1234").unwrap();
        let url = key().device_url("https://service.example.cn/", &tag);
        assert!(url.starts_with("https://service.example.cn/d/ABC1234?s="));
        let scan = parse_scan(&url).unwrap();
        assert_eq!(scan.tag, tag);
        assert!(key().verify(&tag, scan.signature.as_deref().unwrap()));
        assert_eq!(parse_scan("https://x/d/abc1234").unwrap().signature, None);
        for bad in [
            "https://x/p/ABC1234",
            "https://x/d/ABC12",
            "https://x/d/ABC1234?s=%00",
            "d/ABC1234?s=",
        ] {
            assert_eq!(
                parse_scan(bad).unwrap_err().code(),
                "invalid_device_code",
                "{bad}"
            );
        }
    }

    #[test]
    fn images_are_valid_png_and_svg() {
        let png = png("https://service.example.cn/d/ABC1234?s=AAAAAAAAAAA").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width % PNG_SCALE, 0);
        let svg = svg("https://service.example.cn/d/ABC1234").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    proptest! {
        #[test]
        fn the_scan_parser_never_panics(s in "\\PC{0,80}") {
            let _ = parse_scan(&s);
        }
    }
}
