//! The storefront's buying pages: cart, checkout, the sandbox pay page,
//! and the customer's orders. Pages render on the server from the same
//! core functions as the API; their buttons call the API with the
//! session's CSRF token.

use super::i18n::Lang;
use super::store::{frame, Frame, Tab};
use super::{html, when, yuan, PageResult};
use crate::customer::CUSTOMER_COOKIE;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use cove_core::access::customers::{self, CustomerSession};
use cove_core::clock;
use cove_core::commerce::orders::{self, OrderRow, OrderView};
use cove_core::commerce::pricing::{self, Apply, Buyer, Item, Quote};
use cove_core::commerce::{addresses, cart, payments};
use cove_core::insight::Scope;
use cove_core::membership::benefits;
use cove_core::Error;

pub struct ShopLabels {
    pub cart: &'static str,
    pub empty_cart: &'static str,
    pub browse: &'static str,
    pub sign_in: &'static str,
    pub sign_in_note: &'static str,
    pub checkout: &'static str,
    pub quantity: &'static str,
    pub remove: &'static str,
    pub problem: &'static str,
    pub address: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub region: &'static str,
    pub line: &'static str,
    pub invoice: &'static str,
    pub no_invoice: &'static str,
    pub personal: &'static str,
    pub company: &'static str,
    pub invoice_title: &'static str,
    pub tax_id: &'static str,
    pub coupon: &'static str,
    pub no_coupon: &'static str,
    pub points: &'static str,
    pub points_max: &'static str,
    pub benefit: &'static str,
    pub none: &'static str,
    pub remark: &'static str,
    pub place_order: &'static str,
    pub pay: &'static str,
    pub sandbox_note: &'static str,
    pub pay_within: &'static str,
    pub orders: &'static str,
    pub no_orders: &'static str,
    pub order_no: &'static str,
    pub status: &'static str,
    pub tracking: &'static str,
    pub history: &'static str,
    pub cancel: &'static str,
    pub confirm_receipt: &'static str,
    pub refund: &'static str,
    pub refund_reason: &'static str,
    pub refunded: &'static str,
    pub explain: &'static [(&'static str, &'static str)],
    pub statuses: &'static [(&'static str, &'static str)],
}

const ZH: ShopLabels = ShopLabels {
    cart: "购物车",
    empty_cart: "购物车是空的",
    browse: "去逛逛",
    sign_in: "登录后购物",
    sign_in_note: "请在极光电脑小程序中打开，或使用导购发给您的登录链接。",
    checkout: "去结算",
    quantity: "数量",
    remove: "删除",
    problem: "部分商品暂时无法购买",
    address: "收货地址",
    name: "收货人",
    phone: "手机号",
    region: "所在地区",
    line: "详细地址",
    invoice: "发票",
    no_invoice: "不开发票",
    personal: "个人",
    company: "单位",
    invoice_title: "发票抬头",
    tax_id: "纳税人识别号",
    coupon: "优惠券",
    no_coupon: "不使用优惠券",
    points: "积分抵扣",
    points_max: "本单最多可用",
    benefit: "会员礼遇",
    none: "不使用",
    remark: "订单备注",
    place_order: "提交订单",
    pay: "确认支付",
    sandbox_note: "演示环境：模拟微信支付，不会产生真实扣款。",
    pay_within: "请在此时间前完成支付",
    orders: "我的订单",
    no_orders: "还没有订单",
    order_no: "订单号",
    status: "状态",
    tracking: "物流",
    history: "订单进度",
    cancel: "取消订单",
    confirm_receipt: "确认收货",
    refund: "申请退款",
    refund_reason: "退款原因",
    refunded: "已退款",
    explain: &[
        ("list", "商品总价"),
        ("member_price", "会员价优惠"),
        ("flash_sale", "秒杀"),
        ("promotion", "促销"),
        ("coupon", "优惠券"),
        ("benefit", "会员礼遇"),
        ("points", "积分抵扣"),
        ("shipping", "运费"),
        ("payable", "应付"),
    ],
    statuses: &[
        ("pending_payment", "待付款"),
        ("paid", "待发货"),
        ("shipped", "已发货"),
        ("delivered", "已送达"),
        ("completed", "已完成"),
        ("cancelled", "已取消"),
        ("refund_requested", "退款中"),
        ("refunded", "已退款"),
    ],
};

const EN: ShopLabels = ShopLabels {
    cart: "Cart",
    empty_cart: "Your cart is empty",
    browse: "Start shopping",
    sign_in: "Sign in to shop",
    sign_in_note: "Open the Aurora Mini Program, or use the sign-in link your advisor sent you.",
    checkout: "Check out",
    quantity: "Qty",
    remove: "Remove",
    problem: "Some items cannot be bought right now",
    address: "Shipping address",
    name: "Recipient",
    phone: "Mobile",
    region: "Region",
    line: "Street address",
    invoice: "Invoice",
    no_invoice: "No invoice",
    personal: "Personal",
    company: "Company",
    invoice_title: "Invoice title",
    tax_id: "Taxpayer id",
    coupon: "Coupon",
    no_coupon: "No coupon",
    points: "Pay with points",
    points_max: "At most on this order",
    benefit: "Member gift",
    none: "None",
    remark: "Note to the shop",
    place_order: "Place order",
    pay: "Pay now",
    sandbox_note: "Demo: simulated WeChat Pay; no money moves.",
    pay_within: "Pay before",
    orders: "My orders",
    no_orders: "No orders yet",
    order_no: "Order no.",
    status: "Status",
    tracking: "Tracking",
    history: "Progress",
    cancel: "Cancel order",
    confirm_receipt: "Confirm receipt",
    refund: "Request a refund",
    refund_reason: "Reason for the refund",
    refunded: "Refunded",
    explain: &[
        ("list", "Items"),
        ("member_price", "Member price"),
        ("flash_sale", "Flash sale"),
        ("promotion", "Promotion"),
        ("coupon", "Coupon"),
        ("benefit", "Member gift"),
        ("points", "Points"),
        ("shipping", "Shipping"),
        ("payable", "To pay"),
    ],
    statuses: &[
        ("pending_payment", "Awaiting payment"),
        ("paid", "To ship"),
        ("shipped", "Shipped"),
        ("delivered", "Delivered"),
        ("completed", "Completed"),
        ("cancelled", "Cancelled"),
        ("refund_requested", "Refund requested"),
        ("refunded", "Refunded"),
    ],
};

fn labels(lang: Lang) -> &'static ShopLabels {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

impl ShopLabels {
    pub fn explain_label<'a>(&self, kind: &'a str) -> &'a str {
        self.explain
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind, |(_, l)| l)
    }

    pub fn status_label<'a>(&self, status: &'a str) -> &'a str {
        self.statuses
            .iter()
            .find(|(k, _)| *k == status)
            .map_or(status, |(_, l)| l)
    }
}

/// How a row of an order's price explanation reads in `lang`: promotions
/// and coupons by their own names, the rest by kind.
pub fn explain_label(lang: Lang, kind: &str, label: &str) -> String {
    match kind {
        "promotion" | "coupon" | "flash_sale" => label.to_owned(),
        _ => labels(lang).explain_label(kind).to_owned(),
    }
}

async fn session(state: &AppState, headers: &HeaderMap) -> PageResult<Option<CustomerSession>> {
    Ok(
        match CookieJar::from_headers(headers).get(CUSTOMER_COOKIE) {
            Some(c) => customers::authenticate(&state.db, c.value()).await?,
            None => None,
        },
    )
}

async fn buyer(conn: &mut cove_core::db::Conn, s: &CustomerSession) -> PageResult<Buyer> {
    let tier = match &s.member_id {
        Some(m) => sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
            .bind(m)
            .fetch_optional(&mut *conn)
            .await
            .map_err(Error::from)?,
        None => None,
    };
    Ok(Buyer {
        profile_id: s.profile_id.clone(),
        member_id: s.member_id.clone(),
        tier,
    })
}

/// A cart line as the page shows it.
pub struct LineView {
    pub id: String,
    pub title: String,
    pub options: String,
    pub quantity: i64,
    pub unit: String,
    pub total: String,
}

pub struct CartView {
    pub lines: Vec<LineView>,
    pub quote: Option<Quote>,
    pub problem: Option<String>,
    /// The cart's items as JSON, for checkout.
    pub items_json: String,
}

async fn cart_view(state: &AppState, s: &CustomerSession) -> PageResult<CartView> {
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    let lines = cart::lines(&mut conn, &s.profile_id).await?;
    let items: Vec<Item> = lines.iter().map(|l| l.item.clone()).collect();
    let items_json = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
    if lines.is_empty() {
        return Ok(CartView {
            lines: Vec::new(),
            quote: None,
            problem: None,
            items_json,
        });
    }
    let b = buyer(&mut conn, s).await?;
    let (quote, problem) =
        match pricing::quote(&mut conn, Some(&b), &items, &Apply::default(), clock::now()).await {
            Ok(q) => (Some(q), None),
            Err(e) => (None, Some(e.to_string())),
        };
    let mut views = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let priced = quote.as_ref().and_then(|q| q.lines.get(i));
        let (title, options, unit) = match priced {
            Some(p) => (
                p.item.title.clone(),
                p.item
                    .options
                    .iter()
                    .map(|o| o.name.clone())
                    .collect::<Vec<_>>()
                    .join(" · "),
                p.unit_fen,
            ),
            None => {
                let title: Option<String> = sqlx::query_scalar(
                    "SELECT p.name_zh FROM skus s JOIN products p ON p.id = s.product_id WHERE s.id = $1",
                )
                .bind(&l.item.sku_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(Error::from)?;
                (title.unwrap_or_default(), String::new(), 0)
            }
        };
        views.push(LineView {
            id: l.id.clone(),
            title,
            options,
            quantity: l.item.quantity,
            unit: yuan(unit),
            total: yuan(unit * l.item.quantity),
        });
    }
    Ok(CartView {
        lines: views,
        quote,
        problem,
        items_json,
    })
}

#[derive(Template)]
#[template(path = "store/cart.html")]
struct CartPage {
    f: Frame,
    s: &'static ShopLabels,
    csrf: String,
    cart: Option<CartView>,
}

/// `GET /cart`
pub async fn cart_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Me, "/cart");
    let s = labels(f.lang);
    let Some(sess) = session(&state, &headers).await? else {
        return html(&CartPage {
            f,
            s,
            csrf: String::new(),
            cart: None,
        });
    };
    let cart = cart_view(&state, &sess).await?;
    html(&CartPage {
        f,
        s,
        csrf: sess.csrf,
        cart: Some(cart),
    })
}

pub struct CheckoutView {
    pub cart: CartView,
    pub addresses: Vec<addresses::Saved>,
    pub points_available: i64,
    pub grants: Vec<(String, String)>,
    pub member: bool,
}

#[derive(Template)]
#[template(path = "store/checkout.html")]
struct CheckoutPage {
    f: Frame,
    s: &'static ShopLabels,
    csrf: String,
    view: Option<CheckoutView>,
}

/// `GET /checkout`: the cart priced with address, invoice, coupon, points.
pub async fn checkout_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Me, "/checkout");
    let s = labels(f.lang);
    let Some(sess) = session(&state, &headers).await? else {
        return html(&CheckoutPage {
            f,
            s,
            csrf: String::new(),
            view: None,
        });
    };
    let cart = cart_view(&state, &sess).await?;
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    let saved = addresses::list(&mut conn, &sess.profile_id).await?;
    let (points_available, grants) = match &sess.member_id {
        Some(m) => {
            let balance =
                cove_core::membership::points::balance(&mut conn, m, clock::now()).await?;
            let perks = benefits::for_member(&mut conn, m).await?;
            let grants = perks
                .grants
                .into_iter()
                .filter(|g| g.kind == "birthday_offer")
                .map(|g| (g.id, yuan(g.value)))
                .collect();
            (balance.available, grants)
        }
        None => (0, Vec::new()),
    };
    let view = CheckoutView {
        cart,
        addresses: saved,
        points_available,
        grants,
        member: sess.member_id.is_some(),
    };
    html(&CheckoutPage {
        f,
        s,
        csrf: sess.csrf,
        view: Some(view),
    })
}

#[derive(Template)]
#[template(path = "store/pay.html")]
struct PayPage {
    f: Frame,
    s: &'static ShopLabels,
    csrf: String,
    payment: payments::Payment,
    order_no: String,
    amount: String,
    expires: String,
}

/// `GET /pay/sandbox/{payment_id}`: the sandbox provider's pay page.
pub async fn pay_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
) -> PageResult {
    let f = frame(&headers, Tab::Me, "/orders");
    let s = labels(f.lang);
    let sess = session(&state, &headers)
        .await?
        .ok_or(Error::not_found("payment"))?;
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    let payment = payments::get(&mut conn, &payment_id).await?;
    let order = orders::head_for(&mut conn, &payment.order_id, &sess.profile_id).await?;
    html(&PayPage {
        f,
        s,
        csrf: sess.csrf,
        amount: yuan(payment.amount_fen),
        order_no: order.order_no,
        expires: order.expires_at.map(when).unwrap_or_default(),
        payment,
    })
}

#[derive(Template)]
#[template(path = "store/orders.html")]
struct OrdersPage {
    f: Frame,
    s: &'static ShopLabels,
    orders: Option<Vec<(OrderRow, String, String)>>,
}

/// `GET /orders`: the customer's orders.
pub async fn orders_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let f = frame(&headers, Tab::Me, "/orders");
    let s = labels(f.lang);
    let Some(sess) = session(&state, &headers).await? else {
        return html(&OrdersPage { f, s, orders: None });
    };
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    let rows = orders::list(&mut conn, Some(&sess.profile_id), None, Scope::ALL, 100)
        .await?
        .into_iter()
        .map(|o| {
            let (total, at) = (yuan(o.total_fen), when(o.placed_at));
            (o, total, at)
        })
        .collect();
    html(&OrdersPage {
        f,
        s,
        orders: Some(rows),
    })
}

#[derive(Template)]
#[template(path = "store/order.html")]
struct OrderPage {
    f: Frame,
    s: &'static ShopLabels,
    csrf: String,
    o: OrderView,
    explanation: Vec<(String, String)>,
    lines: Vec<(String, String, i64, String)>,
    history: Vec<(String, String)>,
}

/// `GET /orders/{id}`: one order with its price explanation and progress.
pub async fn order_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let f = frame(&headers, Tab::Me, "/orders");
    let s = labels(f.lang);
    let sess = session(&state, &headers)
        .await?
        .ok_or(Error::not_found("order"))?;
    let mut conn = state.db.pool().acquire().await.map_err(Error::from)?;
    orders::head_for(&mut conn, &id, &sess.profile_id).await?;
    let o = orders::view(&mut conn, &id).await?;
    let explanation = o.pricing["explanation"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let kind = r["kind"].as_str().unwrap_or_default();
                    let label = explain_label(f.lang, kind, r["label"].as_str().unwrap_or(kind));
                    (label, yuan(r["amount_fen"].as_i64().unwrap_or_default()))
                })
                .collect()
        })
        .unwrap_or_default();
    let lines = o
        .lines
        .iter()
        .map(|l| {
            let options = l.options.as_array().map_or(String::new(), |opts| {
                opts.iter()
                    .filter_map(|o| o["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(" · ")
            });
            (l.title.clone(), options, l.quantity, yuan(l.paid_fen))
        })
        .collect();
    let history = o
        .transitions
        .iter()
        .map(|t| (s.status_label(&t.to_status).to_owned(), when(t.at)))
        .collect();
    html(&OrderPage {
        f,
        s,
        csrf: sess.csrf,
        o,
        explanation,
        lines,
        history,
    })
}
