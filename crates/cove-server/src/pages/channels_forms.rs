//! Console forms that create what brings customers in through WeChat: QR
//! codes for a store, a staff member or a campaign (an Official Account's
//! parametric codes or Mini Program codes) and WeCom contact ways (a
//! salesperson's QR code with a welcome).

use super::console::Console;
use super::i18n::Lang;
use super::{form_outcome, PageResult};
use crate::state::AppState;
use axum::extract::State;
use axum::Form;
use cove_core::access::{self, Access, Area};
use cove_core::channels::official_account::{self, NewScene, SceneKind};
use cove_core::channels::wecom::{self, NewContactWay};
use cove_core::channels::{accounts, AccountKind};
use cove_core::network;
use cove_core::Error;
use serde::Deserialize;

pub struct FormLabels {
    pub new_scene: &'static str,
    pub new_way: &'static str,
    pub account: &'static str,
    pub kind: &'static str,
    pub for_store: &'static str,
    pub for_staff: &'static str,
    pub for_campaign: &'static str,
    pub name: &'static str,
    pub store: &'static str,
    pub staff: &'static str,
    pub none: &'static str,
    pub campaign: &'static str,
    pub wecom_user_id: &'static str,
    pub welcome_text: &'static str,
    pub page: &'static str,
    pub create: &'static str,
    pub no_account: &'static str,
}

const ZH: FormLabels = FormLabels {
    new_scene: "新建二维码",
    new_way: "新建联系我",
    account: "账号",
    kind: "用途",
    for_store: "门店",
    for_staff: "员工",
    for_campaign: "活动",
    name: "名称",
    store: "门店",
    staff: "员工",
    none: "（无）",
    campaign: "活动",
    wecom_user_id: "销售的企业微信 UserID",
    welcome_text: "欢迎语",
    page: "小程序页面（仅小程序码）",
    create: "创建",
    no_account: "请先添加对应的账号。",
};

const EN: FormLabels = FormLabels {
    new_scene: "New QR code",
    new_way: "New contact way",
    account: "Account",
    kind: "For",
    for_store: "Store",
    for_staff: "Staff member",
    for_campaign: "Campaign",
    name: "Name",
    store: "Store",
    staff: "Staff member",
    none: "(none)",
    campaign: "Campaign",
    wecom_user_id: "Salesperson's WeCom userid",
    welcome_text: "Welcome message",
    page: "Mini Program page (Mini Program codes only)",
    create: "Create",
    no_account: "Add an account of this kind first.",
};

fn labels(lang: Lang) -> &'static FormLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

/// The create form shown above a tab's table.
pub struct CreateForm {
    /// `scene` or `way`.
    pub kind: &'static str,
    pub l: &'static FormLabels,
    pub accounts: Vec<Choice>,
    pub stores: Vec<Choice>,
    pub staff: Vec<Choice>,
}

/// The form for `tab`, for staff who may change channels.
pub async fn for_tab(
    state: &AppState,
    console: &Console,
    tab: &str,
) -> Result<Option<CreateForm>, Error> {
    let (kind, account_kinds) = match tab {
        "scenes" => (
            "scene",
            &[AccountKind::OfficialAccount, AccountKind::MiniProgram][..],
        ),
        "ways" => ("way", &[AccountKind::Wecom][..]),
        _ => return Ok(None),
    };
    if console.auth.require(Area::Channels, Access::Write).is_err() {
        return Ok(None);
    }
    let accounts = accounts::list(&state.db)
        .await?
        .into_iter()
        .filter(|a| account_kinds.contains(&a.kind))
        .map(|a| Choice {
            label: format!("{} ({})", a.name, a.kind.as_str()),
            value: a.id,
        })
        .collect();
    let stores = network::list_stores(&state.db, None, None)
        .await?
        .into_iter()
        .map(|s| Choice {
            value: s.id,
            label: s.name,
        })
        .collect();
    let staff = access::list_users(&state.db)
        .await?
        .into_iter()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| Choice {
            label: format!("{} <{}>", u.name, u.email),
            value: u.id,
        })
        .collect();
    Ok(Some(CreateForm {
        kind,
        l: labels(console.lang),
        accounts,
        stores,
        staff,
    }))
}

fn chosen(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SceneForm {
    account_id: String,
    kind: String,
    name: String,
    store_id: String,
    staff_id: String,
    campaign: String,
    page: String,
}

/// `POST /admin/channels/scenes` (htmx).
pub async fn create_scene(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<SceneForm>,
) -> PageResult {
    console.require(Area::Channels, Access::Write)?;
    let result = async {
        let kind = match f.kind.as_str() {
            "store" => SceneKind::Store,
            "staff" => SceneKind::Staff,
            "campaign" => SceneKind::Campaign,
            _ => {
                return Err(Error::invalid(
                    "invalid_kind",
                    "a QR code is for a store, a staff member or a campaign",
                ))
            }
        };
        let new = NewScene {
            account_id: f.account_id.clone(),
            kind,
            name: f.name.clone(),
            store_id: chosen(&f.store_id),
            staff_id: chosen(&f.staff_id),
            campaign: chosen(&f.campaign),
            page: chosen(&f.page),
        };
        official_account::create_scene(&state.wechat, &console.auth.actor(), new).await?;
        Ok(())
    }
    .await;
    form_outcome(result, "/admin/channels?tab=scenes")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WayForm {
    account_id: String,
    name: String,
    wecom_user_id: String,
    staff_id: String,
    store_id: String,
    campaign: String,
    welcome_text: String,
}

/// `POST /admin/channels/ways` (htmx).
pub async fn create_way(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<WayForm>,
) -> PageResult {
    console.require(Area::Channels, Access::Write)?;
    let new = NewContactWay {
        account_id: f.account_id.clone(),
        name: f.name.clone(),
        wecom_user_id: f.wecom_user_id.clone(),
        staff_id: chosen(&f.staff_id),
        store_id: chosen(&f.store_id),
        campaign: chosen(&f.campaign),
        welcome_text: chosen(&f.welcome_text),
    };
    let result = wecom::create_contact_way(&state.wechat, &console.auth.actor(), new)
        .await
        .map(|_| ());
    form_outcome(result, "/admin/channels?tab=ways")
}
