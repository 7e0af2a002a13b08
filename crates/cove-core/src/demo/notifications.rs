//! The demo's notification rules: paid and shipped orders, ticket status
//! changes and booked or dispatched repair visits tell the customer through the sandbox Mini Program (falling back
//! to the Official Account). The demo shopper can be reached there and has
//! subscribed, so a purchase in the storefront puts the messages in the
//! console outbox.

use crate::audit::Actor;
use crate::channels::consent::{self, Answer, Report};
use crate::channels::notifications::{self, ChannelOption, Field, RuleInput, Via};
use crate::db::Db;

fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
    pairs
        .iter()
        .map(|(key, value)| Field {
            key: (*key).to_owned(),
            value: (*value).to_owned(),
        })
        .collect()
}

/// (event, Mini Program template, fields).
fn rules() -> [(&'static str, &'static str, Vec<Field>); 5] {
    [
        (
            "order.paid",
            "TPL_ORDER_PAID",
            fields(&[
                ("character_string1", "{order_no}"),
                ("amount2", "{total_fen}"),
                ("time3", "{at}"),
                ("thing4", "付款成功，我们会尽快为您发货"),
            ]),
        ),
        (
            "order.shipped",
            "TPL_ORDER_SHIPPED",
            fields(&[
                ("character_string1", "{order_no}"),
                ("thing2", "{carrier}"),
                ("character_string3", "{tracking_no}"),
                ("time4", "{at}"),
            ]),
        ),
        (
            "ticket.status_changed",
            "TPL_TICKET_STATUS",
            fields(&[
                ("character_string1", "{number}"),
                ("thing2", "{subject}"),
                ("phrase3", "{name_zh}"),
                ("time4", "{at}"),
            ]),
        ),
        (
            "appointment.booked",
            "TPL_VISIT_BOOKED",
            fields(&[
                ("character_string1", "{number}"),
                ("character_string2", "{service_tag}"),
                ("time3", "{starts_at}"),
                ("thing4", "工程师将按预约时间上门"),
            ]),
        ),
        (
            "appointment.dispatched",
            "TPL_VISIT_DISPATCHED",
            fields(&[
                ("character_string1", "{number}"),
                ("time2", "{starts_at}"),
                ("thing3", "已为您指派工程师，上门当天可查看联系方式"),
            ]),
        ),
    ]
}

/// Creates the rules and makes `shopper_profile` reachable in the Mini
/// Program (`mp_app_id`) with a long-term subscription to each template.
pub async fn seed(
    db: &Db,
    mp: (&str, &str),
    oa_id: &str,
    shopper_profile: Option<&str>,
) -> anyhow::Result<()> {
    let (mp_id, mp_app_id) = mp;
    let actor = Actor::system();
    for (event, template, fields) in rules() {
        let option = |via, account_id: &str, template_id: String| ChannelOption {
            via,
            account_id: account_id.to_owned(),
            template_id: Some(template_id),
            fields: fields.clone(),
            page: (via == Via::Subscribe).then(|| "pages/me/index".to_owned()),
            url: None,
            text: None,
        };
        let input = RuleInput {
            event_name: event.to_owned(),
            channels: vec![
                option(Via::Subscribe, mp_id, template.to_owned()),
                option(Via::Template, oa_id, format!("{template}_OA")),
            ],
            only_when: None,
            time_zone: None,
            enabled: true,
        };
        notifications::save(db, &actor, input).await?;
    }
    let Some(profile) = shopper_profile else {
        return Ok(());
    };
    let open_id = "oAuroraDemoShopper";
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO identities (type, value, profile_id, source_id, created_at) VALUES ($1, $2, $3, NULL, $4) \
         ON CONFLICT (type, value) DO NOTHING",
    )
    .bind(format!("openid:{mp_app_id}"))
    .bind(open_id)
    .bind(profile)
    .bind(crate::clock::now())
    .execute(&mut *tx)
    .await?;
    let report = Report {
        report_key: "demo.subscriptions".into(),
        results: rules()
            .iter()
            .map(|(_, template, _)| ((*template).to_owned(), Answer::Accept))
            .collect(),
        long_term: true,
    };
    consent::record(&mut tx, mp_id, open_id, Some(profile), &report).await?;
    tx.commit().await?;
    Ok(())
}
