//! What a customer's scan hands Cove, on arbitrary bytes: a service tag typed or scanned, a
//! printed device code (`…/d/<TAG>?s=<sig>`, straight or as the Mini Program's `q`), and a
//! signed Mini Program scene. Nothing may panic; whatever parses renders back to the same
//! value; a signature verifies for what it was made for and for nothing else.
#![no_main]

use cove_core::error::Error;
use cove_core::service::qr::{parse_scan, Scan, SigningKey};
use cove_core::service::ServiceTag;
use cove_wechat::qr::{check_mp_scene, decode_launch_q, SceneCodec, UrlPrefixRule};
use libfuzzer_sys::fuzz_target;

const PUBLIC_URL: &str = "https://service.example.cn";
const DEVICE_PREFIX: &str = "https://service.example.cn/d/";
const SCENE_KEY: &[u8] = b"a secret of the deployment";

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    // Which character a tampering check changes, chosen by the input too.
    let pick = data.first().map_or(0, |&b| usize::from(b));
    service_tag(&input);
    device_code(&input, pick);
    launch_q(&input);
    mp_scene(&input, pick);
});

fn device_key() -> SigningKey {
    SigningKey::from_bytes([7; 32])
}

/// A tag is the trimmed, upper-cased input when that is seven of A–Z / 0–9, whichever way it
/// arrives (path, query or JSON body).
fn service_tag(input: &str) {
    let parsed = ServiceTag::parse(input);
    let wanted = input.trim().to_ascii_uppercase();
    let by_rule = wanted.len() == 7
        && wanted
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    match &parsed {
        Ok(tag) => {
            assert!(by_rule, "{input:?} accepted as {tag}");
            assert_eq!(tag.as_str(), wanted);
            assert_eq!(ServiceTag::parse(&tag.to_string()).ok().as_ref(), Some(tag));
            assert_eq!(
                ServiceTag::parse(&tag.as_str().to_ascii_lowercase())
                    .ok()
                    .as_ref(),
                Some(tag)
            );
        }
        Err(e) => {
            assert!(!by_rule, "{input:?} refused");
            assert_refused(e, "invalid_service_tag");
        }
    }
    let from_json =
        serde_json::from_value::<ServiceTag>(serde_json::Value::String(input.to_owned()));
    assert_eq!(from_json.ok(), parsed.as_ref().ok().cloned());
    assert_eq!(input.parse::<ServiceTag>().ok(), parsed.ok());
}

/// A scanned device code renders back to itself; its signature verifies exactly when it is the
/// deployment's signature of its tag; a tampered code does not verify.
fn device_code(input: &str, pick: usize) {
    let scan = match parse_scan(input) {
        Ok(scan) => scan,
        Err(e) => return assert_refused(&e, "invalid_device_code"),
    };
    let key = device_key();
    let rendered = render(&scan);
    assert_eq!(parse_scan(&rendered).ok(), Some(scan.clone()), "{rendered}");
    if let Some(sig) = &scan.signature {
        assert_eq!(key.verify(&scan.tag, sig), *sig == key.sign(&scan.tag));
    }
    // The code Cove prints for this tag: it parses back and verifies, straight or through the
    // Mini Program's URL-prefix rule and `q` parameter.
    let url = key.device_url(PUBLIC_URL, &scan.tag);
    let printed = parse_scan(&url).expect("a printed code parses");
    assert_eq!(printed.tag, scan.tag);
    let sig = printed.signature.expect("a printed code is signed");
    assert!(key.verify(&scan.tag, &sig));
    let rule = UrlPrefixRule::new(DEVICE_PREFIX).expect("an https prefix");
    let tail = rule.tail(&url).expect("the rule covers printed codes");
    let q = rule.url(tail);
    let from_q = decode_launch_q(&q).expect("q decodes");
    assert_eq!(
        parse_scan(&from_q).ok(),
        Some(Scan {
            tag: scan.tag.clone(),
            signature: Some(sig.clone())
        })
    );
    // Tampering: another character in the signature, another key, another tag.
    let mut forged: Vec<char> = sig.chars().collect();
    let at = pick % forged.len();
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert!(
        !key.verify(&scan.tag, &forged),
        "{forged} verified for {}",
        scan.tag
    );
    assert!(!SigningKey::from_bytes([8; 32]).verify(&scan.tag, &sig));
    let other = next_tag(&scan.tag);
    assert!(!key.verify(&other, &sig), "{sig} verified for {other}");
}

/// Whatever `q` the Mini Program receives, decoding it and reading the code never panics, and
/// what the URL-prefix rule encodes decodes to itself.
fn launch_q(input: &str) {
    if let Ok(url) = decode_launch_q(input) {
        if let Ok(scan) = parse_scan(&url) {
            assert_eq!(parse_scan(&render(&scan)).ok(), Some(scan));
        }
    }
    let rule = UrlPrefixRule::new(DEVICE_PREFIX).expect("an https prefix");
    let url = rule.url(input);
    assert!(rule.matches(&url));
    let tail = rule.tail(&url).expect("the rule covers its own URLs");
    assert_eq!(decode_launch_q(tail).ok().as_deref(), Some(input));
}

/// A signed Mini Program scene decodes to a payload that encodes back to it; an encoded payload
/// fits WeChat's limits and decodes to itself; any change to a scene is refused.
fn mp_scene(input: &str, pick: usize) {
    let codec = SceneCodec::new(SCENE_KEY);
    if let Ok(payload) = codec.decode(input) {
        let scene = codec.encode(&payload).expect("a decoded payload encodes");
        let received = if input.contains('%') {
            decode_launch_q(input).expect("decoded once already")
        } else {
            input.to_owned()
        };
        assert_eq!(scene, received);
    }
    let Ok(scene) = codec.encode(input) else {
        return;
    };
    assert!(
        check_mp_scene(&scene).is_ok(),
        "{scene:?} breaks WeChat's limits"
    );
    assert_eq!(codec.decode(&scene).ok().as_deref(), Some(input));
    assert!(SceneCodec::new(b"another deployment")
        .decode(&scene)
        .is_err());
    let mut tampered: Vec<char> = scene.chars().collect();
    let at = pick % tampered.len();
    tampered[at] = if tampered[at] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    assert!(
        codec.decode(&tampered).is_err(),
        "{tampered:?} accepted for {scene:?}"
    );
    assert!(codec.decode(&scene[..scene.len() - 1]).is_err());
}

fn render(scan: &Scan) -> String {
    match &scan.signature {
        Some(sig) => format!("{DEVICE_PREFIX}{}?s={sig}", scan.tag),
        None => format!("{DEVICE_PREFIX}{}", scan.tag),
    }
}

/// A different valid tag (the last character moved on by one).
fn next_tag(tag: &ServiceTag) -> ServiceTag {
    let mut chars: Vec<char> = tag.as_str().chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'Z' { '0' } else { 'Z' };
    ServiceTag::parse(&chars.into_iter().collect::<String>()).expect("still a tag")
}

fn assert_refused(e: &Error, code: &str) {
    assert_eq!(e.code(), code, "{e}");
    assert!(matches!(e, Error::Invalid { .. }), "not a 4xx refusal: {e}");
}
