//! Inbound parsing, passive replies and QR helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panics are the failure report

use cove_wechat::qr::{
    check_mp_scene, decode_launch_q, scene_from_event_key, showqrcode_url, QrCreate, SceneCodec,
    UrlPrefixRule,
};
use cove_wechat::xml::{
    parse_inbound, Article, ExternalChatChange, ExternalContactChange, Inbound, Reply,
    SubscribeMsgKind,
};
use cove_wechat::{Error, XmlError};

fn event(body: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>{body}</xml>")
}

fn msg(kind: &str, body: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{body}<MsgId>42</MsgId></xml>")
}

#[test]
fn messages_are_typed() {
    assert!(
        matches!(parse_inbound(&msg("image", "<PicUrl>http://p</PicUrl><MediaId>M</MediaId>")).unwrap(), Inbound::Image { ref media_id, .. } if media_id == "M")
    );
    assert!(
        matches!(parse_inbound(&msg("voice", "<MediaId>M</MediaId><Format>amr</Format>")).unwrap(), Inbound::Voice { ref format, .. } if format == "amr")
    );
    assert!(
        matches!(parse_inbound(&msg("video", "<MediaId>M</MediaId><ThumbMediaId>T</ThumbMediaId>")).unwrap(), Inbound::Video { ref thumb_media_id, .. } if thumb_media_id == "T")
    );
    match parse_inbound(&msg("location", "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置]]></Label>")).unwrap() {
        Inbound::Location { x, scale, label, msg_id, .. } => {
            assert!((x - 23.134521).abs() < 1e-9);
            assert_eq!(scale, Some(20));
            assert_eq!(label, "位置");
            assert_eq!(msg_id.as_deref(), Some("42"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(parse_inbound(&msg("link", "<Title>t</Title><Description>d</Description><Url>u</Url>")).unwrap(), Inbound::Link { ref url, .. } if url == "u")
    );
    match parse_inbound(&msg("miniprogrampage", "<Title>t</Title>")).unwrap() {
        Inbound::Other { fields, header, .. } => {
            assert_eq!(fields["Title"], "t");
            assert_eq!(header.msg_type, "miniprogrampage");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn events_are_typed_case_insensitively() {
    match parse_inbound(&event(
        "<Event>subscribe</Event><EventKey>qrscene_123</EventKey><Ticket>TK</Ticket>",
    ))
    .unwrap()
    {
        Inbound::Subscribe {
            scene,
            ticket,
            header,
            ..
        } => {
            assert_eq!(scene.as_deref(), Some("123"));
            assert_eq!(ticket.as_deref(), Some("TK"));
            assert_eq!(header.create_time, 1_700_000_000);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_inbound(&event(
            "<Event>subscribe</Event><EventKey>scanbarcode|x</EventKey>"
        ))
        .unwrap(),
        Inbound::Subscribe {
            scene: None,
            event_key: Some(_),
            ..
        }
    ));
    assert!(matches!(
        parse_inbound(&event("<Event>unsubscribe</Event>")).unwrap(),
        Inbound::Unsubscribe { .. }
    ));
    assert!(
        matches!(parse_inbound(&event("<Event>scan</Event><EventKey>123</EventKey>")).unwrap(), Inbound::Scan { ref scene, .. } if scene == "123")
    );
    assert!(
        matches!(parse_inbound(&event("<Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>")).unwrap(),
        Inbound::TemplateSendJobFinish { ref msg_id, ref status, .. } if msg_id == "200163836" && status == "failed:user block")
    );
    let popup = event("<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>T1</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene></List><List><TemplateId>T2</TemplateId><SubscribeStatusString>reject</SubscribeStatusString><PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>");
    match parse_inbound(&popup).unwrap() {
        Inbound::SubscribeMsg { kind, items, .. } => {
            assert_eq!(kind, SubscribeMsgKind::Popup);
            assert_eq!(items.len(), 2);
            assert_eq!(items[1].subscribe_status.as_deref(), Some("reject"));
        }
        other => panic!("{other:?}"),
    }
    let sent = event("<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>T1</TemplateId><MsgID>1700</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent>");
    assert!(
        matches!(parse_inbound(&sent).unwrap(), Inbound::SubscribeMsg { kind: SubscribeMsgKind::Sent, ref items, .. } if items[0].msg_id.as_deref() == Some("1700"))
    );
}

#[test]
fn wecom_external_contact_and_chat_events() {
    let ce = |change: &str, extra: &str| {
        event(&format!("<Event>change_external_contact</Event><ChangeType>{change}</ChangeType><UserID>u</UserID><ExternalUserID>w</ExternalUserID>{extra}"))
    };
    let cases = [
        ("add_external_contact", ExternalContactChange::Add),
        ("add_half_external_contact", ExternalContactChange::AddHalf),
        ("edit_external_contact", ExternalContactChange::Edit),
        ("del_external_contact", ExternalContactChange::Delete),
        ("del_follow_user", ExternalContactChange::DeleteFollowUser),
        ("transfer_fail", ExternalContactChange::TransferFail),
    ];
    for (raw, want) in cases {
        let extra = "<State>s1</State><WelcomeCode>WC</WelcomeCode><Source>DELETE_BY_TRANSFER</Source><FailReason>customer_refused</FailReason>";
        match parse_inbound(&ce(raw, extra)).unwrap() {
            Inbound::ExternalContact {
                change,
                state,
                welcome_code,
                source,
                fail_reason,
                ..
            } => {
                assert_eq!(change, want, "{raw}");
                assert_eq!(state.as_deref(), Some("s1"));
                assert_eq!(welcome_code.as_deref(), Some("WC"));
                assert_eq!(source.as_deref(), Some("DELETE_BY_TRANSFER"));
                assert_eq!(fail_reason.as_deref(), Some("customer_refused"));
            }
            other => panic!("{raw}: {other:?}"),
        }
    }
    let chat = |extra: &str| {
        event(&format!(
            "<Event>change_external_chat</Event><ChatId>C1</ChatId>{extra}"
        ))
    };
    assert!(matches!(
        parse_inbound(&chat("<ChangeType>create</ChangeType>")).unwrap(),
        Inbound::ExternalChat {
            change: ExternalChatChange::Create,
            ..
        }
    ));
    assert!(matches!(
        parse_inbound(&chat("<ChangeType>dismiss</ChangeType>")).unwrap(),
        Inbound::ExternalChat {
            change: ExternalChatChange::Dismiss,
            ..
        }
    ));
    match parse_inbound(&chat("<ChangeType>update</ChangeType><UpdateDetail>del_member</UpdateDetail><QuitScene>1</QuitScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><![CDATA[a,b]]></MemChangeList><LastMemVer>v1</LastMemVer><CurMemVer>v2</CurMemVer>")).unwrap() {
        Inbound::ExternalChat { change, quit_scene, mem_change_cnt, mem_change_list, last_mem_ver, cur_mem_ver, .. } => {
            assert_eq!(change, ExternalChatChange::Update("del_member".into()));
            assert_eq!(quit_scene, Some(1));
            assert_eq!(mem_change_cnt, Some(2));
            assert_eq!(mem_change_list, ["a", "b"], "comma-separated CDATA form");
            assert_eq!(last_mem_ver.as_deref(), Some("v1"));
            assert_eq!(cur_mem_ver.as_deref(), Some("v2"));
        }
        other => panic!("{other:?}"),
    }
    match parse_inbound(&event(
        "<Event>kf_msg_or_event</Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId>",
    ))
    .unwrap()
    {
        Inbound::KfMsgOrEvent {
            token, open_kf_id, ..
        } => {
            assert_eq!(token, "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR");
            assert_eq!(open_kf_id, "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            parse_inbound(&event(
                "<Event>kf_msg_or_event</Event><OpenKfId>wk1</OpenKfId>"
            ))
            .unwrap(),
            Inbound::Other { .. }
        ),
        "without its Token the event cannot be synced"
    );
}

#[test]
fn invalid_create_time_is_a_typed_error() {
    let err = parse_inbound("<xml><CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ParseXml(XmlError::InvalidField {
                field: "CreateTime",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn replies_escape_cdata_and_round_trip() {
    let tricky = "a]]>b<c>&d]]>";
    let replies = [
        Reply::Text {
            to: "o1".into(),
            from: "gh_1".into(),
            create_time: 1,
            content: tricky.into(),
        },
        Reply::Image {
            to: "o1".into(),
            from: "gh_1".into(),
            create_time: 1,
            media_id: "M".into(),
        },
        Reply::Voice {
            to: "o1".into(),
            from: "gh_1".into(),
            create_time: 1,
            media_id: "M".into(),
        },
        Reply::Video {
            to: "o1".into(),
            from: "gh_1".into(),
            create_time: 1,
            media_id: "M".into(),
            title: tricky.into(),
            description: "d".into(),
        },
        Reply::News {
            to: "o1".into(),
            from: "gh_1".into(),
            create_time: 1,
            articles: vec![Article {
                title: tricky.into(),
                description: "d".into(),
                pic_url: "p".into(),
                url: "u".into(),
            }],
        },
    ];
    for r in &replies {
        let xml = r.to_xml();
        let doc = cove_wechat::xml::parse(&xml).unwrap();
        assert_eq!(doc.text("ToUserName"), Some("o1"));
        assert_eq!(doc.text("FromUserName"), Some("gh_1"));
    }
    let text = cove_wechat::xml::parse(&replies[0].to_xml()).unwrap();
    assert_eq!(text.text("Content"), Some(tricky));
    let video = cove_wechat::xml::parse(&replies[3].to_xml()).unwrap();
    assert_eq!(video.child("Video").unwrap().text("Title"), Some(tricky));
    let news = cove_wechat::xml::parse(&replies[4].to_xml()).unwrap();
    assert_eq!(news.text("ArticleCount"), Some("1"));
    assert_eq!(
        news.child("Articles")
            .unwrap()
            .child("item")
            .unwrap()
            .text("Title"),
        Some(tricky)
    );
}

#[test]
fn oa_qr_limits() {
    assert!(QrCreate::temporary_id(0, 60).is_err());
    assert!(QrCreate::temporary_id(u32::MAX, 2_592_000).is_ok());
    assert!(QrCreate::temporary_id(1, 2_592_001).is_err());
    assert!(QrCreate::permanent_id(100_000).is_ok());
    assert!(QrCreate::permanent_id(100_001).is_err());
    assert!(QrCreate::permanent_str("").is_err());
    assert!(QrCreate::permanent_str(&"字".repeat(64)).is_ok());
    assert!(QrCreate::permanent_str(&"a".repeat(65)).is_err());
    let body = QrCreate::temporary_id(123, 604_800).unwrap().to_json();
    assert_eq!(
        body,
        serde_json::json!({"expire_seconds":604800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}})
    );
    let body = QrCreate::permanent_str("dev:SN123").unwrap().to_json();
    assert_eq!(
        body,
        serde_json::json!({"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"dev:SN123"}}})
    );
    assert_eq!(
        scene_from_event_key("subscribe", Some("qrscene_dev:1")).as_deref(),
        Some("dev:1")
    );
    assert_eq!(
        scene_from_event_key("SCAN", Some("dev:1")).as_deref(),
        Some("dev:1")
    );
    assert_eq!(scene_from_event_key("subscribe", Some("")), None);
    assert_eq!(scene_from_event_key("subscribe", None), None);
    assert_eq!(
        showqrcode_url("https://mp.weixin.qq.com", "gQH+/=a"),
        "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH%2B%2F%3Da"
    );
}

#[test]
fn mini_program_scene_codec() {
    let codec = SceneCodec::new(b"k1");
    let payload = "d=SN12345678901234567";
    assert_eq!(payload.len(), codec.max_payload());
    let scene = codec.encode(payload).unwrap();
    assert_eq!(scene.len(), 32);
    check_mp_scene(&scene).unwrap();
    assert_eq!(codec.decode(&scene).unwrap(), payload);
    // percent-encoded form (query.scene not decoded) is accepted
    let encoded = scene.replace('=', "%3D");
    assert_eq!(codec.decode(&encoded).unwrap(), payload);
    // another key, a changed payload, or a missing tag fail
    assert!(matches!(
        SceneCodec::new(b"k2").decode(&scene),
        Err(Error::ValidateSignature)
    ));
    let forged = scene.replacen("SN1", "SN9", 1);
    assert!(matches!(
        codec.decode(&forged),
        Err(Error::ValidateSignature)
    ));
    assert!(matches!(
        codec.decode("nodot"),
        Err(Error::ValidateSignature)
    ));
    assert!(codec.encode(&format!("{payload}x")).is_err());
    assert!(codec.encode("中文").is_err());
    assert!(check_mp_scene("").is_err());
    assert!(check_mp_scene("a%20b").is_err());
    assert!(SceneCodec::with_tag_len(b"k", 5).is_err());
}

#[test]
fn printed_url_rules() {
    let rule = UrlPrefixRule::new("https://go.example.com/d/").unwrap();
    let url = rule.url("SN123?b=1");
    assert_eq!(url, "https://go.example.com/d/SN123?b=1");
    assert!(rule.matches(&url));
    assert!(!rule.matches("https://go.example.com/x/SN1"));
    let q = "https%3A%2F%2Fgo.example.com%2Fd%2FSN123%3Fb%3D1";
    let scanned = decode_launch_q(q).unwrap();
    assert_eq!(rule.tail(&scanned), Some("SN123?b=1"));
    assert!(UrlPrefixRule::new("ftp://x").is_err());
}
