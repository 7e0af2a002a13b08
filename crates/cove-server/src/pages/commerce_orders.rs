//! Console order management for the store: orders by status with counts
//! and a search by order number, and an order's page (price explanation,
//! lines, address, attribution, payments, refunds, history, notes) with the
//! actions its status allows. Actions post to the staff JSON API
//! (`/api/v1/orders/...`), so the page and the API share one set of rules.

use super::console::{Console, Nav, Shell};
use super::i18n::Lang;
use super::{html, when, when_opt, yuan, PageResult};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use cove_core::access::{Access, Area};
use cove_core::commerce::orders::{self, OrderView, Status};
use cove_core::commerce::refunds;
use cove_core::insight::Scope;
use cove_core::Error;
use serde::Deserialize;
use serde_json::Value;

/// Labels of the order pages, in both languages.
pub struct OrderLabels {
    pub title: &'static str,
    pub all: &'static str,
    pub search_hint: &'static str,
    pub search: &'static str,
    pub order_no: &'static str,
    pub placed: &'static str,
    pub customer: &'static str,
    pub items: &'static str,
    pub total: &'static str,
    pub channel: &'static str,
    pub status: &'static str,
    pub no_orders: &'static str,
    pub visitor: &'static str,
    pub explanation: &'static str,
    pub lines: &'static str,
    pub product: &'static str,
    pub qty: &'static str,
    pub unit: &'static str,
    pub discount: &'static str,
    pub points: &'static str,
    pub paid: &'static str,
    pub refunded: &'static str,
    pub address: &'static str,
    pub invoice: &'static str,
    pub remark: &'static str,
    pub attribution: &'static str,
    pub store: &'static str,
    pub staff: &'static str,
    pub campaign: &'static str,
    pub scene: &'static str,
    pub first_touch: &'static str,
    pub last_touch: &'static str,
    pub payments: &'static str,
    pub provider: &'static str,
    pub amount: &'static str,
    pub trade_no: &'static str,
    pub refunds: &'static str,
    pub reason: &'static str,
    pub requested_by: &'static str,
    pub decided_by: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub reject_reason: &'static str,
    pub history: &'static str,
    pub actor: &'static str,
    pub note: &'static str,
    pub notes: &'static str,
    pub add_note: &'static str,
    pub actions: &'static str,
    pub ship: &'static str,
    pub carrier: &'static str,
    pub tracking_no: &'static str,
    pub deliver: &'static str,
    pub cancel: &'static str,
    pub cancel_reason: &'static str,
    pub refund: &'static str,
    pub refund_whole: &'static str,
    pub refund_hint: &'static str,
    pub shipping: &'static str,
    pub none: &'static str,
    pub back: &'static str,
    pub failed: &'static str,
}

const ZH: OrderLabels = OrderLabels {
    title: "订单",
    all: "全部",
    search_hint: "订单号",
    search: "搜索",
    order_no: "订单号",
    placed: "下单时间",
    customer: "顾客",
    items: "商品",
    total: "实付",
    channel: "渠道",
    status: "状态",
    no_orders: "没有符合条件的订单",
    visitor: "访客",
    explanation: "价格说明",
    lines: "商品明细",
    product: "商品",
    qty: "数量",
    unit: "单价",
    discount: "优惠",
    points: "积分抵扣",
    paid: "实付",
    refunded: "已退",
    address: "收货地址",
    invoice: "发票",
    remark: "买家备注",
    attribution: "来源归因",
    store: "门店",
    staff: "导购",
    campaign: "活动",
    scene: "场景码",
    first_touch: "首次触达",
    last_touch: "最近触达",
    payments: "支付记录",
    provider: "支付方式",
    amount: "金额",
    trade_no: "商户单号",
    refunds: "退款",
    reason: "原因",
    requested_by: "申请人",
    decided_by: "处理人",
    approve: "同意退款",
    reject: "驳回",
    reject_reason: "驳回原因",
    history: "状态流转",
    actor: "操作人",
    note: "备注",
    notes: "内部备注",
    add_note: "添加备注",
    actions: "操作",
    ship: "发货",
    carrier: "快递公司",
    tracking_no: "运单号",
    deliver: "标记已送达",
    cancel: "取消订单",
    cancel_reason: "取消原因",
    refund: "退款",
    refund_whole: "整单退款",
    refund_hint: "填写各行退款数量；全部留空则整单退款",
    shipping: "运费",
    none: "暂无",
    back: "返回订单列表",
    failed: "操作失败",
};

const EN: OrderLabels = OrderLabels {
    title: "Orders",
    all: "All",
    search_hint: "Order number",
    search: "Search",
    order_no: "Order no.",
    placed: "Placed",
    customer: "Customer",
    items: "Items",
    total: "Total",
    channel: "Channel",
    status: "Status",
    no_orders: "No orders match",
    visitor: "Visitor",
    explanation: "Price explanation",
    lines: "Lines",
    product: "Product",
    qty: "Qty",
    unit: "Unit",
    discount: "Discount",
    points: "Points",
    paid: "Paid",
    refunded: "Refunded",
    address: "Shipping address",
    invoice: "Invoice",
    remark: "Customer remark",
    attribution: "Attribution",
    store: "Store",
    staff: "Staff",
    campaign: "Campaign",
    scene: "Scene",
    first_touch: "First touch",
    last_touch: "Last touch",
    payments: "Payments",
    provider: "Provider",
    amount: "Amount",
    trade_no: "Trade no.",
    refunds: "Refunds",
    reason: "Reason",
    requested_by: "Requested by",
    decided_by: "Decided by",
    approve: "Approve",
    reject: "Reject",
    reject_reason: "Reason for rejecting",
    history: "History",
    actor: "By",
    note: "Note",
    notes: "Staff notes",
    add_note: "Add note",
    actions: "Actions",
    ship: "Ship",
    carrier: "Carrier",
    tracking_no: "Tracking no.",
    deliver: "Mark delivered",
    cancel: "Cancel order",
    cancel_reason: "Reason",
    refund: "Refund",
    refund_whole: "Refund whole order",
    refund_hint: "Units to refund per line; leave all empty to refund the whole order",
    shipping: "Shipping",
    none: "None",
    back: "Back to orders",
    failed: "Failed",
};

fn labels(lang: Lang) -> &'static OrderLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// The status's name for people.
pub fn status_label(lang: Lang, status: &str) -> &'static str {
    let zh = lang == Lang::Zh;
    match status {
        "pending_payment" if zh => "待付款",
        "pending_payment" => "Pending payment",
        "paid" if zh => "待发货",
        "paid" => "Paid, to ship",
        "shipped" if zh => "已发货",
        "shipped" => "Shipped",
        "delivered" if zh => "已送达",
        "delivered" => "Delivered",
        "completed" if zh => "已完成",
        "completed" => "Completed",
        "cancelled" if zh => "已取消",
        "cancelled" => "Cancelled",
        "refund_requested" if zh => "退款申请中",
        "refund_requested" => "Refund requested",
        "refunded" if zh => "已退款",
        "refunded" => "Refunded",
        _ => "—",
    }
}

/// The name of an address or invoice field.
fn field_label(lang: Lang, key: &str) -> &'static str {
    let zh = lang == Lang::Zh;
    match key {
        "name" if zh => "收货人",
        "name" => "Recipient",
        "phone" if zh => "电话",
        "phone" => "Phone",
        "region" if zh => "地区",
        "region" => "Region",
        "line" if zh => "详细地址",
        "line" => "Address",
        "postcode" if zh => "邮编",
        "postcode" => "Postcode",
        "kind" if zh => "类型",
        "kind" => "Type",
        "title" if zh => "抬头",
        "title" => "Title",
        "tax_id" if zh => "税号",
        "tax_id" => "Tax ID",
        "email" if zh => "邮箱",
        "email" => "Email",
        _ => "—",
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "pending_payment" | "refund_requested" => "badge-amber",
        "paid" | "shipped" | "delivered" => "badge-brand",
        "completed" => "badge-green",
        _ => "badge-red",
    }
}

/// The tabs in the order the team works through them.
const TABS: [Status; 8] = [
    Status::PendingPayment,
    Status::Paid,
    Status::Shipped,
    Status::Delivered,
    Status::RefundRequested,
    Status::Completed,
    Status::Cancelled,
    Status::Refunded,
];

pub struct Tab {
    pub key: &'static str,
    pub href: String,
    pub label: &'static str,
    pub count: i64,
    pub active: bool,
}

pub struct ListRow {
    pub id: String,
    pub order_no: String,
    pub placed: String,
    pub customer: String,
    pub title: String,
    pub items: i64,
    pub total: String,
    pub channel: String,
    pub status: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    shell: Shell,
    o: &'static OrderLabels,
    tabs: Vec<Tab>,
    status: String,
    q: String,
    rows: Vec<ListRow>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    q: Option<String>,
}

type ListSqlRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `GET /admin/commerce/orders?status=&q=`: orders by status, newest first.
pub async fn index(
    State(state): State<AppState>,
    console: Console,
    Query(f): Query<ListQuery>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let status = f
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Status::parse)
        .transpose()?;
    let q = f.q.unwrap_or_default().trim().to_owned();
    let scope = Scope::of(console.principal());
    let db_err = Error::from;
    let mut conn = state.db.read().acquire().await.map_err(db_err)?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM orders WHERE ($1 IS NULL OR store_id = $1) \
         AND ($2 IS NULL OR reseller_id = $2) GROUP BY status",
    )
    .bind(scope.store)
    .bind(scope.reseller)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    // Order numbers are digits; anything else cannot match and would only confuse LIKE.
    let pattern = (!q.is_empty()).then(|| {
        let digits: String = q.chars().filter(char::is_ascii_alphanumeric).collect();
        format!("%{digits}%")
    });
    let found: Vec<ListSqlRow> = sqlx::query_as(
        "SELECT o.id, o.order_no, o.status, o.channel, o.total_fen, o.placed_at, \
                COALESCE((SELECT MIN(l.title) FROM order_lines l WHERE l.order_id = o.id), '') AS title, \
                CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT) AS items, \
                m.name, m.member_no, o.address \
         FROM orders o LEFT JOIN members m ON m.id = o.member_id \
         WHERE ($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.order_no LIKE $2) \
           AND ($3 IS NULL OR o.store_id = $3) AND ($4 IS NULL OR o.reseller_id = $4) \
         ORDER BY o.placed_at DESC, o.id DESC LIMIT 200",
    )
    .bind(status.map(Status::as_str))
    .bind(pattern)
    .bind(scope.store)
    .bind(scope.reseller)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let lang = console.lang;
    let o = labels(lang);
    let l = console.l();
    let href = |s: Option<&str>| {
        let mut parts = Vec::new();
        if let Some(s) = s {
            parts.push(format!("status={s}"));
        }
        if !q.is_empty() {
            parts.push(format!("q={}", super::percent_encode_component(&q)));
        }
        if parts.is_empty() {
            "/admin/commerce/orders".to_owned()
        } else {
            format!("/admin/commerce/orders?{}", parts.join("&"))
        }
    };
    let mut tabs = vec![Tab {
        key: "all",
        href: href(None),
        label: o.all,
        count: counts.iter().map(|(_, n)| n).sum(),
        active: status.is_none(),
    }];
    tabs.extend(TABS.iter().map(|s| {
        Tab {
            key: s.as_str(),
            href: href(Some(s.as_str())),
            label: status_label(lang, s.as_str()),
            count: counts
                .iter()
                .find(|(c, _)| c == s.as_str())
                .map_or(0, |(_, n)| *n),
            active: status == Some(*s),
        }
    }));
    let rows = found
        .into_iter()
        .map(
            |(id, order_no, st, channel, total, placed, title, items, name, no, address)| {
                let customer = match (name, no) {
                    (Some(name), Some(no)) => format!("{name} · {no}"),
                    _ => address
                        .and_then(|a| serde_json::from_str::<Value>(&a).ok())
                        .and_then(|a| a["name"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| o.visitor.to_owned()),
                };
                ListRow {
                    status_label: status_label(lang, &st),
                    status_class: status_class(&st),
                    id,
                    order_no,
                    placed: when(placed),
                    customer,
                    title,
                    items,
                    total: yuan(total),
                    channel: l.channel(&channel),
                    status: st,
                }
            },
        )
        .collect();
    html(&OrdersPage {
        shell: console.shell(Nav::Area(Area::Commerce), o.title),
        o,
        tabs,
        status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        q,
        rows,
    })
}

pub struct ExplainRow {
    pub kind: String,
    pub label: String,
    pub amount: String,
}

pub struct LineRow {
    pub id: String,
    pub title: String,
    pub options: String,
    pub quantity: i64,
    pub unit: String,
    /// The list price when the buyer paid less per unit (member price).
    pub list_unit: Option<String>,
    pub discount: String,
    pub points: String,
    pub paid: String,
    pub refunded_quantity: i64,
    pub refunded: String,
    /// Units still refundable.
    pub refundable: i64,
}

pub struct PaymentRow {
    pub provider: String,
    pub out_trade_no: String,
    pub amount: String,
    pub status: String,
    pub created: String,
    pub paid: String,
}

pub struct RefundRow {
    pub id: String,
    pub out_refund_no: String,
    pub amount: String,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub decided_by: String,
    pub created: String,
    pub pending: bool,
}

pub struct TransitionRow {
    pub from: String,
    pub to: String,
    pub actor: String,
    pub note: String,
    pub at: String,
}

pub struct NoteRow {
    pub author: String,
    pub body: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    shell: Shell,
    o: &'static OrderLabels,
    order: OrderView,
    status_label: &'static str,
    status_class: &'static str,
    total: String,
    placed: String,
    channel: String,
    explanation: Vec<ExplainRow>,
    lines: Vec<LineRow>,
    address: Vec<(&'static str, &'static str, String)>,
    invoice: Vec<(&'static str, &'static str, String)>,
    attribution: Vec<(&'static str, String)>,
    payments: Vec<PaymentRow>,
    refunds: Vec<RefundRow>,
    transitions: Vec<TransitionRow>,
    notes: Vec<NoteRow>,
    can_write: bool,
    can_ship: bool,
    can_deliver: bool,
    can_cancel: bool,
    can_refund: bool,
}

/// A JSON value as one line of text for the page.
fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}: {}", text_of(v)))
            .collect::<Vec<_>>()
            .join(" · "),
        other => other.to_string(),
    }
}

/// A first or last touch: its properties, with its time readable.
fn touch_text(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match (k.as_str(), v.as_i64()) {
                ("at", Some(us)) => when(us),
                _ => format!("{k}: {}", text_of(v)),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        other => text_of(other),
    }
}

/// The name of row `id` of `table` (stores, users), or the id when it is gone.
async fn name_of(conn: &mut cove_core::db::Conn, table: &str, id: &Value) -> Result<String, Error> {
    let Some(id) = id.as_str() else {
        return Ok(String::new());
    };
    let name: Option<String> =
        sqlx::query_scalar(&format!("SELECT name FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(name.unwrap_or_else(|| id.to_owned()))
}

/// `GET /admin/commerce/orders/{id}`: one order and what may be done with it.
pub async fn order(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::Commerce, Access::Read)?;
    let db_err = Error::from;
    let mut conn = state.db.pool().acquire().await.map_err(db_err)?;
    let scope = Scope::of(console.principal());
    orders::in_scope(&mut conn, &id, scope).await?;
    let view = orders::view(&mut conn, &id).await?;
    let refund_list = refunds::for_order(&mut conn, &id).await?;
    let payment_rows: Vec<(String, String, i64, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT provider, out_trade_no, amount_fen, status, created_at, paid_at FROM payments \
         WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let note_rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT author, body, at FROM order_notes WHERE order_id = $1 ORDER BY at, id",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let a = &view.attribution;
    let store = name_of(&mut conn, "stores", &a["store_id"]).await?;
    let staff = name_of(&mut conn, "users", &a["staff_id"]).await?;

    let lang = console.lang;
    let o = labels(lang);
    let l = console.l();
    let can_write = console.auth.can(Area::Commerce, Access::Write);
    let status = view.head.status;
    let explanation = view.pricing["explanation"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|e| ExplainRow {
                    kind: e["kind"].as_str().unwrap_or_default().to_owned(),
                    label: super::store_orders::explain_label(
                        lang,
                        e["kind"].as_str().unwrap_or_default(),
                        e["label"].as_str().unwrap_or_default(),
                    ),
                    amount: yuan(e["amount_fen"].as_i64().unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    let lines = view
        .lines
        .iter()
        .map(|line| LineRow {
            id: line.id.clone(),
            title: line.title.clone(),
            options: line
                .options
                .as_array()
                .map(|opts| {
                    opts.iter()
                        .map(|c| c["name"].as_str().map_or_else(|| text_of(c), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .unwrap_or_default(),
            quantity: line.quantity,
            unit: yuan(line.unit_price_fen),
            list_unit: (line.list_unit_fen > line.unit_price_fen).then(|| yuan(line.list_unit_fen)),
            discount: yuan(line.discount_fen),
            points: yuan(line.points_fen),
            paid: yuan(line.paid_fen),
            refunded_quantity: line.refunded_quantity,
            refunded: yuan(line.refunded_fen),
            refundable: line.quantity - line.refunded_quantity,
        })
        .collect();
    let fields = |v: &Option<Value>, keys: &[&'static str]| {
        let Some(Value::Object(map)) = v else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| {
                map.get(*k)
                    .map(text_of)
                    .filter(|s| !s.is_empty())
                    .map(|s| (*k, field_label(lang, k), s))
            })
            .collect()
    };
    let address = fields(
        &view.address,
        &["name", "phone", "region", "line", "postcode"],
    );
    let invoice = fields(&view.invoice, &["kind", "title", "tax_id", "email"]);
    let attribution: Vec<(&'static str, String)> = [
        (
            o.channel,
            l.channel(a["channel"].as_str().unwrap_or_default()),
        ),
        (o.store, store),
        (o.staff, staff),
        (o.campaign, text_of(&a["campaign"])),
        (o.scene, text_of(&a["scene"])),
        (o.first_touch, touch_text(&a["first_touch"])),
        (o.last_touch, touch_text(&a["last_touch"])),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let page = OrderPage {
        shell: console.shell(
            Nav::Area(Area::Commerce),
            &format!("{} {}", o.title, view.head.order_no),
        ),
        o,
        status_label: status_label(lang, status.as_str()),
        status_class: status_class(status.as_str()),
        total: yuan(view.head.total_fen),
        placed: when(view.head.placed_at),
        channel: l.channel(&view.channel),
        explanation,
        lines,
        address,
        invoice,
        attribution,
        payments: payment_rows
            .into_iter()
            .map(
                |(provider, out_trade_no, amount, status, created, paid)| PaymentRow {
                    provider,
                    out_trade_no,
                    amount: yuan(amount),
                    status,
                    created: when(created),
                    paid: when_opt(paid, "—"),
                },
            )
            .collect(),
        refunds: refund_list
            .into_iter()
            .map(|r| RefundRow {
                pending: r.status == "requested",
                id: r.id,
                out_refund_no: r.out_refund_no,
                amount: yuan(r.amount_fen),
                reason: r.reason,
                status: r.status,
                requested_by: r.requested_by,
                decided_by: r.decided_by.unwrap_or_default(),
                created: when(r.created_at),
            })
            .collect(),
        transitions: view
            .transitions
            .iter()
            .map(|t| TransitionRow {
                from: t
                    .from_status
                    .as_deref()
                    .map(|s| status_label(lang, s).to_owned())
                    .unwrap_or_default(),
                to: status_label(lang, &t.to_status).to_owned(),
                actor: t.actor.clone(),
                note: t.note.clone().unwrap_or_default(),
                at: when(t.at),
            })
            .collect(),
        notes: note_rows
            .into_iter()
            .map(|(author, body, at)| NoteRow {
                author,
                body,
                at: when(at),
            })
            .collect(),
        can_write,
        can_ship: can_write && status == Status::Paid,
        can_deliver: can_write && status == Status::Shipped,
        can_cancel: can_write && status == Status::PendingPayment,
        can_refund: can_write && status.is_paid() && status != Status::RefundRequested,
        order: view,
    };
    html(&page)
}
