//! The customer data platform as a newcomer first sees it: computed traits,
//! the three behaviour tags marketing starts with, an audience built on them
//! and a persona, all computed on the demo's events before the console opens.

use crate::audience::audiences::{self, AudienceInput, Cache};
use crate::audience::computed::{self, ComputedTraitInput, Definition};
use crate::audience::tags::{self, compute, TagInput, TagKind};
use crate::audit::Actor;
use crate::clock::Micros;
use crate::db::Db;
use serde_json::{json, Value};

fn trait_input(key: &str, name: &str, definition: Value) -> anyhow::Result<ComputedTraitInput> {
    Ok(ComputedTraitInput {
        key: key.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        definition: serde_json::from_value::<Definition>(definition)?,
    })
}

fn rule_tag(key: &str, name: &str, rule: Value) -> TagInput {
    TagInput {
        key: key.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        kind: TagKind::Rule,
        rule: Some(rule),
    }
}

pub async fn seed(db: &Db, now: Micros) -> anyhow::Result<()> {
    let actor = Actor::system();
    let traits = [
        trait_input(
            "warranty_ends_at",
            "Warranty ends",
            json!({"kind": "latest_value", "events": ["Device Bound"], "property": "warranty_ends_at"}),
        )?,
        trait_input(
            "total_spend_yuan",
            "Total spend (yuan)",
            json!({"kind": "event_sum", "events": ["Order Completed"], "property": "revenue"}),
        )?,
        trait_input(
            "favourite_category",
            "Favourite category",
            json!({"kind": "most_frequent", "events": ["Product Viewed"], "property": "category"}),
        )?,
        trait_input(
            "days_since_last_order",
            "Days since last order",
            json!({"kind": "days_since_last", "events": ["Order Completed"]}),
        )?,
    ];
    for input in &traits {
        let created = computed::create(db, &actor, input).await?;
        let mut tx = db.begin().await?;
        computed::recompute(&mut tx, db.backend(), &created.id, now).await?;
        tx.commit().await?;
    }
    let rule_tags = [
        rule_tag(
            "gaming_laptop_viewer",
            "Viewed gaming laptops 3 times in 30 days",
            json!({"conditions": [{"type": "event", "events": ["Product Viewed"],
                "filters": [{"property": "line", "op": "=", "value": "gaming_laptop"}],
                "count": {"op": ">=", "value": 3}, "within_days": 30}]}),
        ),
        rule_tag(
            "bought_3y",
            "Bought within 3 years",
            json!({"conditions": [{"type": "event", "events": ["order.paid", "Order Completed"], "within_days": 1095}]}),
        ),
        rule_tag(
            "warranty_ending_60d",
            "Warranty ends within 60 days",
            json!({"conditions": [{"type": "trait", "trait": "warranty_ends_at", "op": "within_next_days", "value": 60}]}),
        ),
    ];
    for input in &rule_tags {
        let tag = tags::create(db, &actor, input).await?;
        let mut tx = db.begin().await?;
        compute::recompute(&mut tx, db.backend(), &tag.id, now).await?;
        tx.commit().await?;
    }
    let cache = Cache::default();
    let saved = [
        (
            "Warranty renewal prospects",
            "Bought within three years and their warranty ends within 60 days: offer an extension.",
            "tag:bought_3y AND tag:warranty_ending_60d",
            false,
        ),
        (
            "Gaming laptop shoppers",
            "Looked at gaming laptops again and again this month: who they are.",
            "tag:gaming_laptop_viewer",
            true,
        ),
    ];
    for (name, description, expression, persona) in saved {
        let input = AudienceInput {
            name: name.to_owned(),
            description: description.to_owned(),
            expression: Value::String(expression.to_owned()),
            persona,
        };
        let audience = audiences::create(db, &cache, &actor, &input).await?;
        let engine = cache.fresh(db).await?;
        let mut tx = db.begin().await?;
        audiences::recompute(&mut tx, &engine, &audience.id, now).await?;
        tx.commit().await?;
    }
    Ok(())
}
