//! Line icons drawn inline as SVG (24×24, `currentColor`), so pages need no icon font.

use cove_core::access::Area;

const fn svg(body: &'static str) -> Icon {
    Icon(body)
}

/// An icon's SVG markup, rendered with `|safe` (every icon is a constant here).
#[derive(Debug, Clone, Copy)]
pub struct Icon(&'static str);

impl std::fmt::Display for Icon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            r#"<svg class="icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{}</svg>"#,
            self.0
        )
    }
}

pub const HOME: Icon = svg(r#"<path d="M3 10.5 12 3l9 7.5"/><path d="M5 9.5V20h5v-6h4v6h5V9.5"/>"#);
pub const BAG: Icon = svg(r#"<path d="M5 8h14l-1 12H6L5 8Z"/><path d="M9 8V6a3 3 0 0 1 6 0v2"/>"#);
pub const CROWN: Icon = svg(r#"<path d="m3 8 4.5 4L12 5l4.5 7L21 8l-2 11H5L3 8Z"/>"#);
pub const WRENCH: Icon = svg(
    r#"<path d="M14.7 6.3a4 4 0 0 0-5.4 5.4L3.5 17.5a1.8 1.8 0 0 0 2.5 2.5l5.8-5.8a4 4 0 0 0 5.4-5.4l-2.6 2.6-2.3-.3-.3-2.3 2.7-2.5Z"/>"#,
);
pub const CHAT: Icon = svg(r#"<path d="M4 5h16v11H9l-5 4V5Z"/><path d="M8 9.5h8M8 12.5h5"/>"#);
pub const USERS: Icon = svg(
    r#"<circle cx="9" cy="8" r="3.2"/><path d="M3 20c0-3.3 2.7-6 6-6s6 2.7 6 6"/><path d="M16 4.5a3.2 3.2 0 0 1 0 6.3M18 14.2c1.8.9 3 2.8 3 5"/>"#,
);
pub const ROUTE: Icon = svg(
    r#"<circle cx="6" cy="18" r="2.2"/><circle cx="18" cy="6" r="2.2"/><path d="M8.2 18H16a3 3 0 0 0 0-6H8a3 3 0 0 1 0-6h7.8"/>"#,
);
pub const CHART: Icon = svg(r#"<path d="M4 20V4M4 20h16"/><path d="m7 15 4-4 3 3 5-6"/>"#);
pub const STORE: Icon = svg(
    r#"<path d="M4 9.5 5.5 4h13L20 9.5"/><path d="M4 9.5a2.7 2.7 0 0 0 5.3 0 2.7 2.7 0 0 0 5.4 0 2.7 2.7 0 0 0 5.3 0"/><path d="M5.5 12v8h13v-8M10 20v-4.5h4V20"/>"#,
);
pub const SHIELD: Icon = svg(
    r#"<path d="M12 3 5 6v5.5c0 4.4 3 7.9 7 9.5 4-1.6 7-5.1 7-9.5V6l-7-3Z"/><path d="m9 12 2 2 4-4"/>"#,
);
pub const GEAR: Icon = svg(
    r#"<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1Z"/>"#,
);
pub const GRID: Icon = svg(
    r#"<rect x="4" y="4" width="7" height="7" rx="1.5"/><rect x="13" y="4" width="7" height="7" rx="1.5"/><rect x="4" y="13" width="7" height="7" rx="1.5"/><rect x="13" y="13" width="7" height="7" rx="1.5"/>"#,
);
pub const USER: Icon =
    svg(r#"<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8"/>"#);
pub const SEARCH: Icon = svg(r#"<circle cx="11" cy="11" r="6.5"/><path d="m20 20-4.2-4.2"/>"#);
pub const LOGOUT: Icon = svg(r#"<path d="M15 4h4v16h-4"/><path d="M10 8l-4 4 4 4M6 12h10"/>"#);
pub const GLOBE: Icon = svg(
    r#"<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9c-2.5-2.6-3.8-5.6-3.8-9S9.5 5.6 12 3Z"/>"#,
);
pub const LOCK: Icon = svg(
    r#"<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3"/>"#,
);
pub const SPARKLE: Icon = svg(
    r#"<path d="M12 3v4M12 17v4M3 12h4M17 12h4M6 6l2.5 2.5M15.5 15.5 18 18M6 18l2.5-2.5M15.5 8.5 18 6"/>"#,
);
pub const LAPTOP: Icon = svg(
    r#"<rect x="4.5" y="5" width="15" height="10" rx="1.5"/><path d="M2.5 19h19l-1.5-3H4l-1.5 3Z"/>"#,
);
pub const DESKTOP: Icon = svg(
    r#"<rect x="3" y="4" width="13" height="10" rx="1.5"/><path d="M7 18h5M9.5 14v4"/><rect x="18" y="4" width="3.5" height="14" rx="1"/>"#,
);
pub const MONITOR: Icon =
    svg(r#"<rect x="2.5" y="4" width="19" height="12" rx="1.5"/><path d="M8 20h8M12 16v4"/>"#);
pub const GAMEPAD: Icon = svg(
    r#"<path d="M7 8h10a4 4 0 0 1 3.9 4.8l-.9 4a2.2 2.2 0 0 1-3.8.9L14 15h-4l-2.2 2.7a2.2 2.2 0 0 1-3.8-.9l-.9-4A4 4 0 0 1 7 8Z"/><path d="M8 11v3M6.5 12.5h3M15.5 12h.01M17.5 13.5h.01"/>"#,
);
pub const MOUSE: Icon =
    svg(r#"<rect x="6.5" y="3" width="11" height="18" rx="5.5"/><path d="M12 7v3"/>"#);
pub const TABLET: Icon =
    svg(r#"<rect x="5" y="3" width="14" height="18" rx="2"/><path d="M11 18h2"/>"#);
pub const BOX: Icon =
    svg(r#"<path d="m12 3 8 4.5v9L12 21l-8-4.5v-9L12 3Z"/><path d="m4 7.5 8 4.5 8-4.5M12 12v9"/>"#);
pub const QR: Icon = svg(
    r#"<rect x="4" y="4" width="6" height="6" rx="1"/><rect x="14" y="4" width="6" height="6" rx="1"/><rect x="4" y="14" width="6" height="6" rx="1"/><path d="M14 14h2v2h-2zM18 18h2v2h-2zM18 14h2M14 18v2"/>"#,
);
pub const CALENDAR: Icon =
    svg(r#"<rect x="4" y="5" width="16" height="15" rx="2"/><path d="M4 10h16M9 3v4M15 3v4"/>"#);
pub const HEADSET: Icon = svg(
    r#"<path d="M4 14v-2a8 8 0 0 1 16 0v2"/><rect x="3" y="14" width="4" height="6" rx="1.5"/><rect x="17" y="14" width="4" height="6" rx="1.5"/><path d="M19 20a3 3 0 0 1-3 2h-3"/>"#,
);

/// The navigation icon of a capability.
pub fn area(area: Area) -> Icon {
    match area {
        Area::Commerce => BAG,
        Area::Membership => CROWN,
        Area::Service => WRENCH,
        Area::Channels => CHAT,
        Area::Audience => USERS,
        Area::Journeys => ROUTE,
        Area::Insight => CHART,
        Area::Network => STORE,
        Area::Privacy => SHIELD,
        Area::System => GEAR,
    }
}

/// A product picture stand-in chosen from a category or product code.
pub fn product(code: &str) -> Icon {
    let code = code.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| code.contains(w));
    if has(&["game", "gaming"]) {
        GAMEPAD
    } else if has(&["laptop", "notebook", "book", "ultra"]) {
        LAPTOP
    } else if has(&["desktop", "tower", "pc", "workstation", "aio", "all-in-one"]) {
        DESKTOP
    } else if has(&["monitor", "display", "screen"]) {
        MONITOR
    } else if has(&["tablet", "pad"]) {
        TABLET
    } else if has(&[
        "accessor",
        "mouse",
        "keyboard",
        "peripheral",
        "dock",
        "headset",
    ]) {
        MOUSE
    } else if has(&["service", "warranty", "care", "support"]) {
        SHIELD
    } else {
        BOX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_pictures_follow_the_code() {
        assert_eq!(product("gaming-laptops").0, GAMEPAD.0);
        assert_eq!(product("LAPTOPS").0, LAPTOP.0);
        assert_eq!(product("monitors").0, MONITOR.0);
        assert_eq!(product("warranty").0, SHIELD.0);
        assert_eq!(product("zzz").0, BOX.0);
        assert!(area(Area::System).to_string().starts_with("<svg"));
    }
}
