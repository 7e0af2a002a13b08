//! Property tests: arbitrary input never panics the XML parser, the envelope parser or the
//! decryptor, and encryption round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

use cove_wechat::msgcrypt::MsgCrypt;
use cove_wechat::xml::{parse, parse_inbound};
use proptest::prelude::*;

fn crypt() -> MsgCrypt {
    MsgCrypt::new(
        "123456",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "wx49f0ab532d5d035a",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn xml_parser_never_panics_on_strings(input in ".{0,400}") {
        let _ = parse(&input);
        let _ = parse_inbound(&input);
    }

    #[test]
    fn xml_parser_never_panics_on_xmlish_input(input in "(<xml>|</xml>|<A>|</A>|<!\\[CDATA\\[|\\]\\]>|&amp;|&#x41;|&x;|<!DOCTYPE x>|<B/>|[a-z<>&;/!\\[\\] ]){0,60}") {
        let _ = parse(&input);
        let _ = parse_inbound(&input);
    }

    #[test]
    fn xml_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let input = String::from_utf8_lossy(&bytes);
        let _ = parse(&input);
    }

    #[test]
    fn decryptor_never_panics(input in ".{0,300}", b64 in "[A-Za-z0-9+/]{0,200}={0,2}") {
        let c = crypt();
        let _ = c.decrypt(&input);
        let _ = c.decrypt(&b64);
        let _ = c.decrypt_unchecked(&b64);
        let _ = c.decrypt_message("sig", "1", "n", &input);
        let _ = c.parse_envelope(&input);
    }

    #[test]
    fn decryptor_never_panics_on_random_blocks(blocks in proptest::collection::vec(any::<[u8; 16]>(), 0..12)) {
        use base64::Engine;
        let raw: Vec<u8> = blocks.concat();
        let _ = crypt().decrypt(&base64::engine::general_purpose::STANDARD.encode(raw));
    }

    #[test]
    fn encrypt_decrypt_round_trips(msg in "\\PC{0,300}") {
        let c = crypt();
        let enc = c.encrypt(&msg).unwrap();
        prop_assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }
}
