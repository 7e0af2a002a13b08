//! Hardened parsing of callback XML and typed inbound messages / events; passive replies.
//!
//! The parser refuses `<!DOCTYPE …>` and every entity reference other than the five predefined
//! ones and character references (XXE hardening), limits the document size, the nesting depth
//! and the number of elements, and keeps element text exactly (CDATA included).
//!
//! ```
//! use cove_wechat::xml::{parse_inbound, Inbound};
//!
//! let body = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
//!             <CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>\
//!             <Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_store42]]></EventKey>\
//!             <Ticket><![CDATA[T]]></Ticket></xml>";
//! match parse_inbound(body)? {
//!     Inbound::Subscribe { scene, .. } => assert_eq!(scene.as_deref(), Some("store42")),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), cove_wechat::Error>(())
//! ```

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{Result, XmlError};

mod inbound;
mod reply;

pub use inbound::{
    parse_inbound, ExternalChatChange, ExternalContactChange, Header, Inbound, SubscribeMsgItem,
    SubscribeMsgKind,
};
pub use reply::{Article, Reply};

/// Default size limit for a callback body, in bytes.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
/// Maximum element nesting depth.
pub const MAX_DEPTH: usize = 16;
/// Maximum number of elements in one document.
pub const MAX_ELEMENTS: usize = 10_000;

/// One XML element: its name, its text (only meaningful for leaves) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Element name.
    pub name: String,
    /// Concatenated text and CDATA content, unescaped.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Leaf children (no grandchildren) as a name → text map; the first occurrence wins.
    pub fn fields(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for c in &self.children {
            if c.children.is_empty() {
                map.entry(c.name.clone()).or_insert_with(|| c.text.clone());
            }
        }
        map
    }
}

/// Parses `input` with the default size limit. The returned element is the document root
/// (normally `<xml>`).
pub fn parse(input: &str) -> Result<Element> {
    parse_with_limit(input, DEFAULT_MAX_BYTES)
}

/// Parses `input`, refusing documents larger than `max_bytes`.
pub fn parse_with_limit(input: &str, max_bytes: usize) -> Result<Element> {
    Ok(parse_tree(input, max_bytes)?)
}

fn parse_tree(input: &str, max_bytes: usize) -> std::result::Result<Element, XmlError> {
    if input.len() > max_bytes {
        return Err(XmlError::TooLarge {
            len: input.len(),
            limit: max_bytes,
        });
    }
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::Malformed("too many elements".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep(MAX_DEPTH));
                }
                stack.push(Element {
                    name: element_name(start.name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::Malformed("too many elements".into()));
                }
                // A self-closing element is one level deeper than its parent, like any other.
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep(MAX_DEPTH));
                }
                let element = Element {
                    name: element_name(start.name().as_ref())?,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => {
                        return Err(XmlError::Malformed("content after the root element".into()))
                    }
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(XmlError::Malformed("unbalanced end tag".into()));
                };
                if !done.children.is_empty() && done.text.trim().is_empty() {
                    done.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let raw = std::str::from_utf8(text.as_ref())
                    .map_err(|_| XmlError::Malformed("text is not UTF-8".into()))?;
                let unescaped = unescape(raw)?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&unescaped),
                    None if unescaped.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Malformed("text outside the root element".into()))
                    }
                }
            }
            Event::CData(data) => {
                let raw = std::str::from_utf8(data.as_ref())
                    .map_err(|_| XmlError::Malformed("CDATA is not UTF-8".into()))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(raw),
                    None => {
                        return Err(XmlError::Malformed("CDATA outside the root element".into()))
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unexpected end of document".into()));
    }
    root.ok_or_else(|| XmlError::Malformed("no root element".into()))
}

fn element_name(raw: &[u8]) -> std::result::Result<String, XmlError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| XmlError::Malformed("element name is not UTF-8".into()))
}

/// Unescapes the five predefined entities and character references; refuses any other entity.
fn unescape(raw: &str) -> std::result::Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        let (before, after) = rest.split_at(amp);
        out.push_str(before);
        let Some(semi) = after.find(';') else {
            return Err(XmlError::Malformed("unterminated entity reference".into()));
        };
        let (entity, tail) = after.split_at(semi + 1);
        let name = entity.get(1..entity.len() - 1).unwrap_or_default();
        let ch = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => char_reference(name).ok_or_else(|| XmlError::Entity(entity.to_owned()))?,
        };
        out.push(ch);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn char_reference(name: &str) -> Option<char> {
    let digits = name.strip_prefix('#')?;
    let code = match digits
        .strip_prefix('x')
        .or_else(|| digits.strip_prefix('X'))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u32>().ok()?,
    };
    char::from_u32(code).filter(|&c| is_xml_char(c))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escapes text for a CDATA section: `]]>` is split across two sections and characters that XML
/// 1.0 forbids are dropped. The caller writes the surrounding `<![CDATA[` … `]]>`.
pub fn cdata_escape(text: &str) -> String {
    let cleaned: String = text.chars().filter(|&c| is_xml_char(c)).collect();
    cleaned.replace("]]>", "]]]]><![CDATA[>")
}

/// Escapes text for element content (`&`, `<`, `>`), dropping characters XML 1.0 forbids.
pub fn text_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_cdata_and_entities() {
        let doc = parse("<xml><A><![CDATA[a<b]]></A><B>x &amp; &#x4e2d;</B></xml>").unwrap();
        assert_eq!(doc.text("A"), Some("a<b"));
        assert_eq!(doc.text("B"), Some("x & 中"));
    }

    #[test]
    fn refuses_unknown_entities_and_doctype() {
        assert!(matches!(
            parse_tree("<xml><A>&xxe;</A></xml>", 1000),
            Err(XmlError::Entity(_))
        ));
        assert!(matches!(
            parse_tree("<!DOCTYPE x [<!ENTITY a \"b\">]><xml/>", 1000),
            Err(XmlError::Doctype)
        ));
    }

    #[test]
    fn depth_limit_counts_self_closing_elements() {
        let nested = |levels: usize, leaf: &str| {
            let open: String = (1..levels).map(|i| format!("<e{i}>")).collect();
            let close: String = (1..levels).rev().map(|i| format!("</e{i}>")).collect();
            format!("{open}{leaf}{close}")
        };
        assert!(parse(&nested(MAX_DEPTH, "<leaf/>")).is_ok());
        assert!(parse(&nested(MAX_DEPTH, "<leaf></leaf>")).is_ok());
        for leaf in ["<leaf/>", "<leaf></leaf>"] {
            assert!(matches!(
                parse_tree(&nested(MAX_DEPTH + 1, leaf), 10_000),
                Err(XmlError::TooDeep(MAX_DEPTH))
            ));
        }
    }

    #[test]
    fn cdata_escape_splits_terminator() {
        let escaped = cdata_escape("a]]>b");
        let doc = parse(&format!("<xml><A><![CDATA[{escaped}]]></A></xml>")).unwrap();
        assert_eq!(doc.text("A"), Some("a]]>b"));
    }
}
