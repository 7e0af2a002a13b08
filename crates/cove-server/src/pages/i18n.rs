//! Console and storefront labels in Chinese and English: one struct, one
//! constant per language, so a label missing in either fails to compile.

use cove_core::access::{Area, Role};

/// The language a page is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" | "en-US" | "en-GB" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of `<html>`.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language: what the switch offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

pub struct Labels {
    /// The language's own name, as the switch shows it.
    pub lang_name: &'static str,
    pub console: &'static str,
    pub brand: &'static str,
    pub home: &'static str,
    pub sign_out: &'static str,
    pub coming_soon: &'static str,
    pub coming_soon_note: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_body: &'static str,
    pub back_home: &'static str,
    pub error_title: &'static str,
    pub not_found_title: &'static str,

    // sign-in
    pub login_title: &'static str,
    pub login_subtitle: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub err_credentials: &'static str,
    pub err_locked: &'static str,
    pub err_throttled: &'static str,
    pub err_signin: &'static str,
    pub login_aside_title: &'static str,
    pub login_aside_body: &'static str,

    // dashboard
    pub dash_title: &'static str,
    pub dash_subtitle: &'static str,
    pub scope_store: &'static str,
    pub scope_reseller: &'static str,
    pub kpi_members: &'static str,
    pub kpi_new_members: &'static str,
    pub kpi_orders: &'static str,
    pub kpi_gmv: &'static str,
    pub kpi_repeat: &'static str,
    pub kpi_binding: &'static str,
    pub hint_total: &'static str,
    pub hint_30d: &'static str,
    pub hint_repeat: &'static str,
    pub hint_binding: &'static str,
    pub chart_sales: &'static str,
    pub chart_sales_note: &'static str,
    pub chart_members: &'static str,
    pub chart_members_note: &'static str,
    pub orders: &'static str,
    pub gmv: &'static str,
    pub members: &'static str,
    pub no_data: &'static str,
    pub welcome: &'static str,
    pub welcome_body: &'static str,
    pub your_areas: &'static str,

    // network
    pub stores: &'static str,
    pub resellers: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub city: &'static str,
    pub reseller: &'static str,
    pub direct: &'static str,
    pub since: &'static str,
    pub store_count: &'static str,
    pub kind_flagship: &'static str,
    pub kind_store: &'static str,
    pub kind_reseller_store: &'static str,
    pub empty: &'static str,

    // system
    pub users: &'static str,
    pub tokens: &'static str,
    pub audit: &'static str,
    pub jobs: &'static str,
    pub add_user: &'static str,
    pub role: &'static str,
    pub store: &'static str,
    pub language: &'static str,
    pub last_sign_in: &'static str,
    pub never: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub disabled: &'static str,
    pub create: &'static str,
    pub none: &'static str,
    pub user_added: &'static str,
    pub password_hint: &'static str,
    pub new_token: &'static str,
    pub token_name: &'static str,
    pub scopes: &'static str,
    pub scopes_hint: &'static str,
    pub prefix: &'static str,
    pub created: &'static str,
    pub expires: &'static str,
    pub last_used: &'static str,
    pub revoke: &'static str,
    pub revoked: &'static str,
    pub revoke_confirm: &'static str,
    pub secret_once: &'static str,
    pub time: &'static str,
    pub actor: &'static str,
    pub action: &'static str,
    pub target: &'static str,
    pub ip: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub queue: &'static str,
    pub dead_letters: &'static str,
    pub dead_letters_note: &'static str,
    pub attempts: &'static str,
    pub run_at: &'static str,
    pub last_error: &'static str,
    pub retry: &'static str,
    pub all: &'static str,
    pub job_states: [&'static str; 4],

    // storefront
    pub shop_tagline: &'static str,
    pub search_placeholder: &'static str,
    pub tab_home: &'static str,
    pub tab_categories: &'static str,
    pub tab_service: &'static str,
    pub tab_me: &'static str,
    pub featured: &'static str,
    pub view_all: &'static str,
    pub hero_title: &'static str,
    pub hero_body: &'static str,
    pub hero_cta: &'static str,
    pub member_banner: &'static str,
    pub member_banner_note: &'static str,
    pub service_shortcuts: [&'static str; 4],
    pub catalog_empty: &'static str,
    pub catalog_empty_note: &'static str,
    pub from_price: &'static str,
    pub placeholder_me: &'static str,
    pub placeholder_me_note: &'static str,
    pub placeholder_back: &'static str,
    /// The storefront's device page (scanned device codes).
    pub device: &'static super::device::DeviceLabels,
    pub product_kinds: [(&'static str, &'static str); 3],

    /// Indexed like [`Area::ALL`].
    pub areas: [&'static str; 10],
    /// What each area will hold, indexed like [`Area::ALL`].
    pub area_soon: [&'static str; 10],
    /// Indexed like [`Role::ALL`].
    pub roles: [&'static str; 10],
    /// Known channel codes and their names.
    pub channels: &'static [(&'static str, &'static str)],
}

impl Labels {
    pub fn area(&self, area: Area) -> &'static str {
        index_of(&Area::ALL, &area)
            .and_then(|i| self.areas.get(i))
            .copied()
            .unwrap_or("")
    }

    pub fn area_soon(&self, area: Area) -> &'static str {
        index_of(&Area::ALL, &area)
            .and_then(|i| self.area_soon.get(i))
            .copied()
            .unwrap_or("")
    }

    pub fn role(&self, role: Role) -> &'static str {
        index_of(&Role::ALL, &role)
            .and_then(|i| self.roles.get(i))
            .copied()
            .unwrap_or("")
    }

    /// A role stored as text; unknown roles show as stored.
    pub fn role_str(&self, role: &str) -> String {
        role.parse::<Role>()
            .map(|r| self.role(r).to_owned())
            .unwrap_or_else(|_| role.to_owned())
    }

    /// A channel's name; unknown channel codes show as stored.
    pub fn channel(&self, code: &str) -> String {
        self.channels
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, name)| (*name).to_owned())
            .unwrap_or_else(|| code.to_owned())
    }

    pub fn store_kind(&self, kind: &str) -> String {
        match kind {
            "flagship" => self.kind_flagship.to_owned(),
            "store" => self.kind_store.to_owned(),
            "reseller_store" => self.kind_reseller_store.to_owned(),
            other => other.to_owned(),
        }
    }

    pub fn job_state(&self, state: &str) -> String {
        ["ready", "running", "done", "dead"]
            .iter()
            .position(|s| *s == state)
            .and_then(|i| self.job_states.get(i))
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| state.to_owned())
    }

    pub fn product_kind(&self, kind: &str) -> &'static str {
        self.product_kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, name)| *name)
            .unwrap_or("")
    }
}

fn index_of<T: PartialEq>(all: &[T], item: &T) -> Option<usize> {
    all.iter().position(|x| x == item)
}

const CHANNELS_ZH: &[(&str, &str)] = &[
    ("mini_program", "小程序商城"),
    ("h5", "H5 商城"),
    ("official_account", "服务号"),
    ("service_account", "服务号"),
    ("wecom", "企业微信"),
    ("wechat_group", "微信社群"),
    ("channels", "视频号"),
    ("moments_ads", "朋友圈广告"),
    ("device_qr", "设备扫码"),
    ("qr", "扫码"),
    ("store", "门店"),
    ("offline_store", "门店"),
    ("reseller", "经销商"),
    ("ecommerce", "电商平台"),
    ("marketplace", "电商平台"),
    ("jd", "京东"),
    ("tmall", "天猫"),
    ("online", "线上"),
    ("app", "App"),
    ("web", "官网"),
    ("website", "官网"),
];

const CHANNELS_EN: &[(&str, &str)] = &[
    ("mini_program", "Mini Program"),
    ("h5", "H5 store"),
    ("official_account", "Service account"),
    ("service_account", "Service account"),
    ("wecom", "WeCom"),
    ("wechat_group", "WeChat groups"),
    ("channels", "Channels"),
    ("moments_ads", "Moments ads"),
    ("device_qr", "Device QR"),
    ("qr", "QR scan"),
    ("store", "Stores"),
    ("offline_store", "Stores"),
    ("reseller", "Resellers"),
    ("ecommerce", "Marketplaces"),
    ("marketplace", "Marketplaces"),
    ("jd", "JD.com"),
    ("tmall", "Tmall"),
    ("online", "Online"),
    ("app", "App"),
    ("web", "Website"),
    ("website", "Website"),
];

pub const ZH: Labels = Labels {
    lang_name: "中文",
    console: "管理后台",
    brand: "极光电脑",
    home: "首页",
    sign_out: "退出登录",
    coming_soon: "即将上线",
    coming_soon_note: "这里将提供：",
    forbidden_title: "无权访问",
    forbidden_body: "你的角色无权查看此页面。如需访问，请联系管理员调整权限。",
    back_home: "返回首页",
    error_title: "出错了",
    not_found_title: "页面不存在",

    login_title: "登录管理后台",
    login_subtitle: "使用团队账号登录",
    email: "邮箱",
    password: "密码",
    sign_in: "登录",
    err_credentials: "邮箱或密码错误。",
    err_locked: "多次登录失败，账号已暂时锁定，请稍后再试。",
    err_throttled: "此网络的登录尝试过多，请稍后再试。",
    err_signin: "暂时无法登录，请稍后再试。",
    login_aside_title: "商城、会员与服务，一处经营",
    login_aside_body: "小程序商城、会员中心、服务中心与门店经销网络，连接每一位客户。",

    dash_title: "经营概览",
    dash_subtitle: "会员、订单与设备绑定的核心指标",
    scope_store: "仅显示本门店的数据",
    scope_reseller: "仅显示本经销商的数据",
    kpi_members: "会员总数",
    kpi_new_members: "新增会员",
    kpi_orders: "订单数",
    kpi_gmv: "成交额 (GMV)",
    kpi_repeat: "复购率",
    kpi_binding: "设备绑定率",
    hint_total: "累计",
    hint_30d: "近 30 天",
    hint_repeat: "近 3 年购买 2 次及以上",
    hint_binding: "已绑定设备的会员占比",
    chart_sales: "月度订单与成交额",
    chart_sales_note: "近 3 年，按渠道",
    chart_members: "会员来源",
    chart_members_note: "按入会渠道",
    orders: "订单",
    gmv: "成交额",
    members: "会员",
    no_data: "暂无数据",
    welcome: "欢迎回来",
    welcome_body: "从左侧导航进入你的工作区。",
    your_areas: "你的工作区",

    stores: "门店",
    resellers: "经销商",
    code: "编码",
    name: "名称",
    kind: "类型",
    city: "城市",
    reseller: "经销商",
    direct: "直营",
    since: "加入时间",
    store_count: "门店数",
    kind_flagship: "旗舰店",
    kind_store: "直营店",
    kind_reseller_store: "经销门店",
    empty: "暂无记录",

    users: "用户",
    tokens: "API 令牌",
    audit: "审计日志",
    jobs: "任务队列",
    add_user: "添加用户",
    role: "角色",
    store: "门店",
    language: "语言",
    last_sign_in: "最近登录",
    never: "从未",
    status: "状态",
    active: "正常",
    disabled: "已停用",
    create: "创建",
    none: "—",
    user_added: "已添加用户",
    password_hint: "至少 10 个字符",
    new_token: "创建令牌",
    token_name: "令牌名称",
    scopes: "权限范围",
    scopes_hint: "以空格分隔，如 audience:write commerce:read",
    prefix: "前缀",
    created: "创建时间",
    expires: "过期时间",
    last_used: "最近使用",
    revoke: "吊销",
    revoked: "已吊销",
    revoke_confirm: "确定吊销这个令牌吗？使用它的集成将立即失效。",
    secret_once: "令牌已创建。请立即复制保存，此密钥只显示这一次：",
    time: "时间",
    actor: "操作人",
    action: "操作",
    target: "对象",
    ip: "IP",
    older: "更早",
    newest: "最新",
    queue: "队列",
    dead_letters: "死信",
    dead_letters_note: "多次重试仍失败的任务，可在排查后重新执行",
    attempts: "尝试次数",
    run_at: "计划时间",
    last_error: "最近错误",
    retry: "重试",
    all: "全部",
    job_states: ["等待中", "执行中", "已完成", "死信"],

    shop_tagline: "官方商城",
    search_placeholder: "搜索笔记本、台式机、显示器",
    tab_home: "首页",
    tab_categories: "分类",
    tab_service: "服务",
    tab_me: "我的",
    featured: "精选推荐",
    view_all: "全部",
    hero_title: "新品上市 · 极光 Pro",
    hero_body: "轻薄机身，全天续航。会员专享价与延保权益。",
    hero_cta: "立即选购",
    member_banner: "加入极光会员",
    member_banner_note: "积分抵现 · 专属价 · 延长保修",
    service_shortcuts: ["绑定设备", "保修查询", "预约上门", "联系客服"],
    catalog_empty: "商品即将上架",
    catalog_empty_note: "我们正在准备新品，敬请期待。",
    from_price: "起",
    placeholder_me: "会员中心即将开放",
    placeholder_me_note: "查看会员等级与积分、订单、已绑定的设备和专属权益。",
    placeholder_back: "去逛逛",
    device: &super::device::ZH,
    product_kinds: [("device", "整机"), ("accessory", "配件"), ("service", "服务")],

    areas: [
        "商城", "会员", "服务", "渠道", "人群", "旅程", "洞察", "门店与经销商", "隐私", "系统",
    ],
    area_soon: [
        "商品与 SKU、库存与预占、订单、促销与优惠券、支付与退款，以及每笔订单的渠道、门店与导购归因。",
        "会员档案、等级与成长值、积分账本（发放、冻结、过期与退款冲正）、会员权益与生日礼遇。",
        "设备档案与二维码、设备绑定与保修激活、延保、工单与 SLA、上门维修预约与派工。",
        "服务号、小程序、企业微信与视频号的接入配置，带参二维码与消息模板。",
        "事件接入、身份合并、用户画像、行为标签与人群圈选。",
        "营销旅程：触发、等待、分支与 AB 分流、消息/券/积分动作，以及每一步的统计。",
        "漏斗、跨渠道客户旅程、归因、复购与生命周期价值、各团队的标准报表与导出。",
        "门店与经销商、二维码、业绩目标与补贴、线索回流。",
        "授权同意记录、个人信息导出与删除请求、敏感信息脱敏。",
        "用户与角色、API 令牌、审计日志与任务队列。",
    ],
    roles: [
        "管理员",
        "店铺经理",
        "会员经理",
        "市场营销",
        "产品经理",
        "数据分析师",
        "客服专员",
        "现场工程师",
        "门店店员",
        "经销商",
    ],
    channels: CHANNELS_ZH,
};

pub const EN: Labels = Labels {
    lang_name: "English",
    console: "Console",
    brand: "Aurora",
    home: "Home",
    sign_out: "Sign out",
    coming_soon: "Coming soon",
    coming_soon_note: "This is where you will find:",
    forbidden_title: "Not allowed",
    forbidden_body: "Your role may not view this page. Ask an administrator if you need access.",
    back_home: "Back to home",
    error_title: "Something went wrong",
    not_found_title: "Page not found",

    login_title: "Sign in to the console",
    login_subtitle: "Use your team account",
    email: "Email",
    password: "Password",
    sign_in: "Sign in",
    err_credentials: "Wrong email or password.",
    err_locked: "This account is locked after repeated failed sign-ins. Try again later.",
    err_throttled: "Too many sign-in attempts from this network. Try again later.",
    err_signin: "Signing in is not possible right now. Try again later.",
    login_aside_title: "Store, membership and service in one place",
    login_aside_body: "Your Mini Program store, member center, service center and offline network, connected to every customer.",

    dash_title: "Overview",
    dash_subtitle: "Members, orders and device binding at a glance",
    scope_store: "Showing your store's figures only",
    scope_reseller: "Showing your reseller's figures only",
    kpi_members: "Members",
    kpi_new_members: "New members",
    kpi_orders: "Orders",
    kpi_gmv: "GMV",
    kpi_repeat: "Repeat purchase rate",
    kpi_binding: "Device binding rate",
    hint_total: "All time",
    hint_30d: "Last 30 days",
    hint_repeat: "Bought twice or more in 3 years",
    hint_binding: "Members with a bound device",
    chart_sales: "Monthly orders and GMV",
    chart_sales_note: "Past 3 years, by channel",
    chart_members: "Where members join",
    chart_members_note: "By joining channel",
    orders: "Orders",
    gmv: "GMV",
    members: "Members",
    no_data: "No data yet",
    welcome: "Welcome back",
    welcome_body: "Pick a workspace from the navigation.",
    your_areas: "Your workspaces",

    stores: "Stores",
    resellers: "Resellers",
    code: "Code",
    name: "Name",
    kind: "Type",
    city: "City",
    reseller: "Reseller",
    direct: "Direct",
    since: "Since",
    store_count: "Stores",
    kind_flagship: "Flagship",
    kind_store: "Store",
    kind_reseller_store: "Reseller store",
    empty: "Nothing here yet",

    users: "Users",
    tokens: "API tokens",
    audit: "Audit log",
    jobs: "Jobs",
    add_user: "Add user",
    role: "Role",
    store: "Store",
    language: "Language",
    last_sign_in: "Last sign-in",
    never: "Never",
    status: "Status",
    active: "Active",
    disabled: "Disabled",
    create: "Create",
    none: "—",
    user_added: "User added",
    password_hint: "At least 10 characters",
    new_token: "New token",
    token_name: "Token name",
    scopes: "Scopes",
    scopes_hint: "Space-separated, e.g. audience:write commerce:read",
    prefix: "Prefix",
    created: "Created",
    expires: "Expires",
    last_used: "Last used",
    revoke: "Revoke",
    revoked: "Revoked",
    revoke_confirm: "Revoke this token? Integrations using it stop working at once.",
    secret_once: "Token created. Copy it now; the secret is shown only this once:",
    time: "Time",
    actor: "Actor",
    action: "Action",
    target: "Target",
    ip: "IP",
    older: "Older",
    newest: "Newest",
    queue: "Queue",
    dead_letters: "Dead letters",
    dead_letters_note: "Jobs that kept failing; retry them once the cause is fixed",
    attempts: "Attempts",
    run_at: "Run at",
    last_error: "Last error",
    retry: "Retry",
    all: "All",
    job_states: ["Ready", "Running", "Done", "Dead"],

    shop_tagline: "Official store",
    search_placeholder: "Search laptops, desktops, monitors",
    tab_home: "Home",
    tab_categories: "Categories",
    tab_service: "Service",
    tab_me: "Me",
    featured: "Featured",
    view_all: "All",
    hero_title: "New · Aurora Pro",
    hero_body: "Thin, light, all-day battery. Member prices and extended warranty.",
    hero_cta: "Shop now",
    member_banner: "Join Aurora membership",
    member_banner_note: "Points · member prices · extended warranty",
    service_shortcuts: ["Bind device", "Warranty", "Book repair", "Contact us"],
    catalog_empty: "Products coming soon",
    catalog_empty_note: "We are getting new products ready. Check back soon.",
    from_price: "",
    placeholder_me: "The member center opens soon",
    placeholder_me_note: "Your tier and points, orders, bound devices and member benefits.",
    placeholder_back: "Keep shopping",
    device: &super::device::EN,
    product_kinds: [("device", "Device"), ("accessory", "Accessory"), ("service", "Service")],

    areas: [
        "Commerce",
        "Membership",
        "Service",
        "Channels",
        "Audience",
        "Journeys",
        "Insight",
        "Network",
        "Privacy",
        "System",
    ],
    area_soon: [
        "Products and SKUs, stock and reservations, orders, promotions and coupons, payments and refunds, and attribution of every order to channel, store and staff.",
        "Member profiles, tiers and growth value, the points ledger (earn, freeze, expiry, reversal on refund), benefits and birthday offers.",
        "Device registry and QR codes, device binding and warranty activation, extensions, tickets with SLAs, on-site repair appointments and dispatch.",
        "Service account, Mini Program, WeCom and Channels set-up, parametric QR codes and message templates.",
        "Event ingestion, identity merges, profiles, behaviour tags and audiences.",
        "Marketing journeys: triggers, waits, branches and splits, message, coupon and points actions, with per-step statistics.",
        "Funnels, the cross-channel customer journey, attribution, repeat purchase and lifetime value, team reports and exports.",
        "Stores and resellers, QR codes, targets and subsidies, referred leads.",
        "Consent records, personal-data export and deletion requests, masking of personal data.",
        "Users and roles, API tokens, the audit log and the job queue.",
    ],
    roles: [
        "Administrator",
        "Store manager",
        "Membership manager",
        "Marketing",
        "Product manager",
        "Data analyst",
        "Service agent",
        "Field engineer",
        "Store staff",
        "Reseller",
    ],
    channels: CHANNELS_EN,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_area_and_role_has_a_name_in_both_languages() {
        for labels in [&ZH, &EN] {
            for area in Area::ALL {
                assert!(!labels.area(area).is_empty(), "{area:?}");
                assert!(!labels.area_soon(area).is_empty(), "{area:?}");
            }
            for role in Role::ALL {
                assert!(!labels.role(role).is_empty(), "{role:?}");
            }
        }
        assert_eq!(ZH.area(Area::Commerce), "商城");
        assert_eq!(EN.area(Area::Network), "Network");
        assert_eq!(EN.role_str("store_staff"), "Store staff");
        assert_eq!(EN.channel("mini_program"), "Mini Program");
        assert_eq!(ZH.channel("carrier_pigeon"), "carrier_pigeon");
    }

    #[test]
    fn languages_parse_and_switch() {
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::Zh.other(), Lang::En);
    }
}
