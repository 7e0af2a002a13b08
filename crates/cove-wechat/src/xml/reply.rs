//! Passive replies (被动回复) written as XML with escaped CDATA.

use std::fmt::Write as _;

use super::cdata_escape;

/// One article of a `news` reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`.
    pub pic_url: String,
    /// `Url`.
    pub url: String,
}

/// A passive reply body. `to` is the user's OpenID, `from` the account (gh_ id / CorpID).
///
/// ```
/// use cove_wechat::xml::Reply;
///
/// let xml = Reply::Text { to: "openid".into(), from: "gh_1".into(), create_time: 1, content: "a]]>b".into() }.to_xml();
/// assert!(xml.contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Text reply.
    Text {
        /// Recipient OpenID.
        to: String,
        /// Account id.
        from: String,
        /// Unix seconds.
        create_time: i64,
        /// `Content`.
        content: String,
    },
    /// Image reply (media uploaded first).
    Image {
        /// Recipient OpenID.
        to: String,
        /// Account id.
        from: String,
        /// Unix seconds.
        create_time: i64,
        /// `MediaId`.
        media_id: String,
    },
    /// Voice reply.
    Voice {
        /// Recipient OpenID.
        to: String,
        /// Account id.
        from: String,
        /// Unix seconds.
        create_time: i64,
        /// `MediaId`.
        media_id: String,
    },
    /// Video reply.
    Video {
        /// Recipient OpenID.
        to: String,
        /// Account id.
        from: String,
        /// Unix seconds.
        create_time: i64,
        /// `MediaId`.
        media_id: String,
        /// `Title`.
        title: String,
        /// `Description`.
        description: String,
    },
    /// News (articles) reply.
    News {
        /// Recipient OpenID.
        to: String,
        /// Account id.
        from: String,
        /// Unix seconds.
        create_time: i64,
        /// The articles (WeChat shows at most one for passive replies today).
        articles: Vec<Article>,
    },
}

fn cdata(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}><![CDATA[{}]]></{name}>", cdata_escape(value));
}

impl Reply {
    /// Serialises the reply. In safe mode pass the result to
    /// [`MsgCrypt::encrypt_reply`](crate::msgcrypt::MsgCrypt::encrypt_reply).
    pub fn to_xml(&self) -> String {
        let (to, from, create_time, msg_type) = match self {
            Reply::Text {
                to,
                from,
                create_time,
                ..
            } => (to, from, create_time, "text"),
            Reply::Image {
                to,
                from,
                create_time,
                ..
            } => (to, from, create_time, "image"),
            Reply::Voice {
                to,
                from,
                create_time,
                ..
            } => (to, from, create_time, "voice"),
            Reply::Video {
                to,
                from,
                create_time,
                ..
            } => (to, from, create_time, "video"),
            Reply::News {
                to,
                from,
                create_time,
                ..
            } => (to, from, create_time, "news"),
        };
        let mut out = String::from("<xml>");
        cdata(&mut out, "ToUserName", to);
        cdata(&mut out, "FromUserName", from);
        let _ = write!(out, "<CreateTime>{create_time}</CreateTime>");
        cdata(&mut out, "MsgType", msg_type);
        match self {
            Reply::Text { content, .. } => cdata(&mut out, "Content", content),
            Reply::Image { media_id, .. } => {
                out.push_str("<Image>");
                cdata(&mut out, "MediaId", media_id);
                out.push_str("</Image>");
            }
            Reply::Voice { media_id, .. } => {
                out.push_str("<Voice>");
                cdata(&mut out, "MediaId", media_id);
                out.push_str("</Voice>");
            }
            Reply::Video {
                media_id,
                title,
                description,
                ..
            } => {
                out.push_str("<Video>");
                cdata(&mut out, "MediaId", media_id);
                cdata(&mut out, "Title", title);
                cdata(&mut out, "Description", description);
                out.push_str("</Video>");
            }
            Reply::News { articles, .. } => {
                let _ = write!(
                    out,
                    "<ArticleCount>{}</ArticleCount><Articles>",
                    articles.len()
                );
                for a in articles {
                    out.push_str("<item>");
                    cdata(&mut out, "Title", &a.title);
                    cdata(&mut out, "Description", &a.description);
                    cdata(&mut out, "PicUrl", &a.pic_url);
                    cdata(&mut out, "Url", &a.url);
                    out.push_str("</item>");
                }
                out.push_str("</Articles>");
            }
        }
        out.push_str("</xml>");
        out
    }
}
