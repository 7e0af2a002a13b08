//! Property tests: bitmap evaluation agrees with a naive per-profile evaluation over random
//! populations (built by random update sequences and by bulk loads) and random expressions.

use std::collections::{BTreeMap, BTreeSet};

use cove_audience::{diff, parse, CmpOp, Expr, Population, RoaringBitmap, Update, Value};
use proptest::prelude::*;

const TAGS: [&str; 5] = ["t0", "t1", "t2", "t3", "never_used"];
const NUMERIC: [&str; 2] = ["n0", "n1"];
const TEXT: [&str; 2] = ["c0", "c1"];
const WORDS: [&str; 4] = ["a", "b", "Shanghai", "never_used"];
const MAX_ORDINAL: u32 = 80;

/// One live profile in the naive model.
#[derive(Debug, Clone, Default)]
struct Record {
    tags: BTreeSet<String>,
    numbers: BTreeMap<String, i64>,
    texts: BTreeMap<String, String>,
}

/// The naive model: ordinal -> record, `None` for profiles that are not live.
#[derive(Debug, Clone, Default)]
struct Model(BTreeMap<u32, Record>);

impl Model {
    fn apply(&mut self, update: &Update) {
        match update {
            Update::AddProfile { ordinal } => {
                self.0.entry(*ordinal).or_default();
            }
            Update::RemoveProfile { ordinal } => {
                self.0.remove(ordinal);
            }
            Update::AddTag { ordinal, tag } => {
                self.0.entry(*ordinal).or_default().tags.insert(tag.clone());
            }
            Update::RemoveTag { ordinal, tag } => {
                if let Some(r) = self.0.get_mut(ordinal) {
                    r.tags.remove(tag);
                }
            }
            Update::SetNumber {
                ordinal,
                key,
                value,
            } => {
                self.0
                    .entry(*ordinal)
                    .or_default()
                    .numbers
                    .insert(key.clone(), *value);
            }
            Update::SetText {
                ordinal,
                key,
                value,
            } => {
                self.0
                    .entry(*ordinal)
                    .or_default()
                    .texts
                    .insert(key.clone(), value.clone());
            }
            Update::ClearTrait { ordinal, key } => {
                if let Some(r) = self.0.get_mut(ordinal) {
                    r.numbers.remove(key);
                    r.texts.remove(key);
                }
            }
        }
    }

    /// Builds the same population through the bulk-load API.
    fn bulk(&self) -> Population {
        let mut p = Population::new();
        p.load_profiles(self.0.keys().copied());
        for tag in TAGS {
            let members: Vec<u32> = self
                .0
                .iter()
                .filter(|(_, r)| r.tags.contains(tag))
                .map(|(o, _)| *o)
                .collect();
            if !members.is_empty() {
                p.load_tag(tag, members);
            }
        }
        for key in NUMERIC {
            let pairs: Vec<(u32, i64)> = self
                .0
                .iter()
                .filter_map(|(o, r)| r.numbers.get(key).map(|v| (*o, *v)))
                .collect();
            if !pairs.is_empty() {
                p.load_numbers(key, pairs);
            }
        }
        for key in TEXT {
            let pairs: Vec<(u32, String)> = self
                .0
                .iter()
                .filter_map(|(o, r)| r.texts.get(key).map(|v| (*o, v.clone())))
                .collect();
            if !pairs.is_empty() {
                p.load_texts(key, pairs);
            }
        }
        p
    }

    fn naive(&self, expr: &Expr) -> RoaringBitmap {
        self.0
            .iter()
            .filter(|(_, r)| holds(expr, r))
            .map(|(o, _)| *o)
            .collect()
    }
}

/// Per-profile semantics, written independently of the engine.
fn holds(expr: &Expr, r: &Record) -> bool {
    match expr {
        Expr::All => true,
        Expr::Tag(t) => r.tags.contains(t),
        Expr::Cmp(c) => match &c.value {
            Value::Int(n) => r.numbers.get(&c.key).is_some_and(|v| match c.op {
                CmpOp::Eq => v == n,
                CmpOp::Ne => v != n,
                CmpOp::Lt => v < n,
                CmpOp::Le => v <= n,
                CmpOp::Gt => v > n,
                CmpOp::Ge => v >= n,
            }),
            Value::Str(s) => r.texts.get(&c.key).is_some_and(|v| match c.op {
                CmpOp::Eq => v == s,
                CmpOp::Ne => v != s,
                _ => false,
            }),
        },
        Expr::Between(b) => r
            .numbers
            .get(&b.key)
            .is_some_and(|v| (b.low..=b.high).contains(v)),
        Expr::IsSet(k) => r.numbers.contains_key(k) || r.texts.contains_key(k),
        Expr::And(items) => items.iter().all(|e| holds(e, r)),
        Expr::Or(items) => items.iter().any(|e| holds(e, r)),
        Expr::Not(inner) => !holds(inner, r),
    }
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -6i64..6,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
    ]
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

fn update() -> impl Strategy<Value = Update> {
    let ordinal = 0..MAX_ORDINAL;
    let tag = prop::sample::select(&TAGS[..4]).prop_map(str::to_owned);
    let numeric = prop::sample::select(&NUMERIC[..]).prop_map(str::to_owned);
    let text = prop::sample::select(&TEXT[..]).prop_map(str::to_owned);
    let word = prop::sample::select(&WORDS[..3]).prop_map(str::to_owned);
    let any_key = prop::sample::select(vec!["n0", "n1", "c0", "c1"]).prop_map(str::to_owned);
    prop_oneof![
        1 => ordinal.clone().prop_map(|ordinal| Update::AddProfile { ordinal }),
        1 => ordinal.clone().prop_map(|ordinal| Update::RemoveProfile { ordinal }),
        6 => (ordinal.clone(), tag.clone()).prop_map(|(ordinal, tag)| Update::AddTag { ordinal, tag }),
        2 => (ordinal.clone(), tag).prop_map(|(ordinal, tag)| Update::RemoveTag { ordinal, tag }),
        4 => (ordinal.clone(), numeric, number())
            .prop_map(|(ordinal, key, value)| Update::SetNumber { ordinal, key, value }),
        3 => (ordinal.clone(), text, word)
            .prop_map(|(ordinal, key, value)| Update::SetText { ordinal, key, value }),
        1 => (ordinal, any_key).prop_map(|(ordinal, key)| Update::ClearTrait { ordinal, key }),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    let tag = prop::sample::select(&TAGS[..]).prop_map(Expr::tag);
    let all_keys = vec!["n0", "n1", "c0", "c1", "missing"];
    prop_oneof![
        1 => Just(Expr::All),
        5 => tag,
        3 => (prop::sample::select(all_keys.clone()), op(), number())
            .prop_map(|(k, op, v)| Expr::num(k, op, v)),
        2 => (prop::sample::select(all_keys.clone()), op(), prop::sample::select(&WORDS[..]))
            .prop_map(|(k, op, v)| Expr::text(k, op, v)),
        2 => (prop::sample::select(all_keys.clone()), number(), number())
            .prop_map(|(k, a, b)| Expr::between(k, a, b)),
        1 => prop::sample::select(all_keys).prop_map(Expr::is_set),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Or),
            inner.prop_map(Expr::negate),
        ]
    })
}

/// Expressions whose text form is expected to parse back to the identical tree: lists have at
/// least two items, and strings are never compared with an ordering operator.
fn printable_expr() -> impl Strategy<Value = Expr> {
    let leaf = leaf().prop_filter(
        "string ordering is rejected by the parser",
        |e| !matches!(e, Expr::Cmp(c) if matches!(c.value, Value::Str(_)) && c.op.is_ordering()),
    );
    let names = prop_oneof![
        Just("plain_name".to_owned()),
        Just("with space".to_owned()),
        Just("quote\"and\\slash".to_owned()),
        Just("高价值".to_owned()),
        Just("618-sale.v2".to_owned()),
    ];
    let leaf = prop_oneof![4 => leaf, 1 => names.prop_map(Expr::Tag)];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(Expr::negate),
        ]
    })
}

fn build(updates: &[Update]) -> (Population, Model) {
    let mut population = Population::new();
    let mut model = Model::default();
    for update in updates {
        population.apply(update);
        model.apply(update);
    }
    (population, model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bitmap_evaluation_equals_naive_evaluation(
        updates in prop::collection::vec(update(), 0..250),
        exprs in prop::collection::vec(expr(), 1..6),
    ) {
        let (incremental, model) = build(&updates);
        let bulk = model.bulk();
        let live: RoaringBitmap = model.0.keys().copied().collect();
        prop_assert_eq!(incremental.universe(), &live);
        prop_assert_eq!(bulk.universe(), &live);
        for expr in &exprs {
            let want = model.naive(expr);
            for population in [&incremental, &bulk] {
                let got = population.evaluate(expr);
                prop_assert_eq!(&got, &want, "expr {}", expr);
                prop_assert!(got.is_subset(&live), "result outside the universe: {}", expr);
                prop_assert_eq!(population.count(expr), want.len(), "count of {}", expr);
                for ordinal in 0..MAX_ORDINAL + 2 {
                    prop_assert_eq!(
                        population.matches(expr, ordinal),
                        want.contains(ordinal),
                        "matches({}, {})", expr, ordinal
                    );
                }
            }
        }
    }

    #[test]
    fn not_is_the_complement_within_live_profiles(
        updates in prop::collection::vec(update(), 0..200),
        expr in expr(),
    ) {
        let (population, _) = build(&updates);
        let inside = population.evaluate(&expr);
        let outside = population.evaluate(&expr.clone().negate());
        prop_assert!((&inside & &outside).is_empty());
        prop_assert_eq!(&(&inside | &outside), population.universe());
    }

    #[test]
    fn diff_of_two_audiences_transforms_one_into_the_other(
        updates in prop::collection::vec(update(), 0..200),
        later in prop::collection::vec(update(), 0..50),
        expr in expr(),
    ) {
        let (mut population, _) = build(&updates);
        let before = population.evaluate(&expr);
        for update in &later {
            population.apply(update);
        }
        let after = population.evaluate(&expr);
        let change = diff(&before, &after);
        prop_assert!((&change.entered & &before).is_empty());
        prop_assert!(change.exited.is_subset(&before));
        prop_assert_eq!(&(&(&before - &change.exited) | &change.entered), &after);
    }

    #[test]
    fn text_form_parses_back_to_the_same_tree(expr in printable_expr()) {
        let text = expr.to_string();
        let parsed = parse(&text);
        prop_assert_eq!(parsed, Ok(expr), "text {}", text);
    }

    #[test]
    fn text_form_of_any_tree_means_the_same(
        updates in prop::collection::vec(update(), 0..150),
        expr in expr().prop_filter("string ordering has no text form", |e| {
            let mut ok = true;
            e.walk(&mut |n| {
                if matches!(n, Expr::Cmp(c) if matches!(c.value, Value::Str(_)) && c.op.is_ordering()) {
                    ok = false;
                }
            });
            ok
        }),
    ) {
        let (population, _) = build(&updates);
        let reparsed = parse(&expr.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(population.evaluate(&reparsed), population.evaluate(&expr));
    }

    #[test]
    fn json_form_round_trips(expr in expr()) {
        let json = serde_json::to_string(&expr).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Expr = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, expr);
    }

    #[test]
    fn snapshots_preserve_every_answer(
        updates in prop::collection::vec(update(), 0..200),
        exprs in prop::collection::vec(expr(), 1..4),
    ) {
        let (population, _) = build(&updates);
        let mut bytes = Vec::new();
        population.write_snapshot(&mut bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let restored = Population::read_snapshot(bytes.as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for expr in &exprs {
            prop_assert_eq!(restored.evaluate(expr), population.evaluate(expr));
        }
    }
}
