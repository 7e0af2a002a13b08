//! Properties of the identity graph, through the real ingestion path: Segment
//! JSON parsed as the API parses it (`message::parse_request`, one call or a
//! batch) and stored by `audience::ingest`, on SQLite or on PostgreSQL when
//! `COVE_TEST_PG_URL` is set. A case runs in a namespace of its own — a new
//! source, and identifier values no other case uses — so one database serves
//! every case of a test, and every query below is scoped by that source
//! (identities, events, merges and conflicts all record it).
//!
//! 1. **Order independence, for truthful data**
//!    ([`any_order_of_truthful_calls_gives_the_same_profiles`]). A world of
//!    1–4 people, each with at most one registered identifier (a userId),
//!    1–3 anonymousIds, maybe a device id and maybe an email; every call names
//!    identifiers of one person only: identify(userId, anonymousId),
//!    track(anonymousId), track(userId), alias(previousId = an anonymousId →
//!    userId), identify with traits (name, maybe email and city) by userId or
//!    anonymousId, and page with a device id. No rule about registered
//!    identities or limits can fire here: no profile is ever offered a second
//!    identifier of a limit-1 type, nor more than 3 anonymous ids. The same
//!    calls are ingested in two random orders, one call per request in the
//!    first, and in the second batches of 1–8 or a few calls and then all the
//!    rest in one request. In both, the identifiers
//!    are partitioned into surviving profiles exactly as the connected
//!    components of the graph that joins the identifiers named by one call (so
//!    the merges do happen, and nothing else is joined); each surviving
//!    profile's traits are the union of the identify traits of its component;
//!    its first/last seen are the earliest/latest time of its events; every
//!    event is stored once, attributed to its component's profile or to one
//!    merged into it; and no identity points at a merged profile.
//!
//! 2. **Safety, for adversarial data**
//!    ([`mixed_up_calls_never_join_two_registered_profiles`]). Calls combine
//!    at random a pool of user ids, phones, unionids and member cards
//!    (registered), openids, emails, device ids and a few shared anonymous ids,
//!    in identify (traits), track (context.traits) and alias calls (previousId
//!    a user id or an anonymous id), some sent twice, in batches as above. Each
//!    call gets its own event time, increasing in sending order, so the
//!    graph's records can be replayed event by event: an identity by the event
//!    that attached it (its created_at), `profile_merges` and
//!    `identity_conflicts` by their message. After every event:
//!    - a merge's loser never held a registered identifier, so no merge ever
//!      joined two profiles that each held one (the registered one survives);
//!    - merges and attachments involve only profiles and identifiers the event
//!      named, and the event's profile holds at least one of its identifiers;
//!    - no profile holds more identifiers of a type than `IdType::limit`
//!      allows, so never two registered identifiers of one type. (Registered
//!      identifiers of different types may share a profile: an event may
//!      attach a phone to an account. What never happens is a merge of two.)
//!    - every conflict recorded for the event ties the event's profile to
//!      another registered profile that held the identifier it names; and
//!      when the event names registered identifiers held by two or more
//!      profiles, a conflict ties the event's profile to each of the others.
//!
//!    At the end the replayed graph is the stored one (each identity on its
//!    surviving profile, each merged profile pointing straight at it), each
//!    message is stored once, and re-sent messages are answered as duplicates.

use crate::common::TestDb;
use cove_core::audience::message::parse_request;
use cove_core::audience::sources::{create_source, SourceKind};
use cove_core::audience::{ingest, CallType, IdType, Ingested};
use cove_core::audit::Actor;
use cove_core::db::Db;
use proptest::collection::vec;
use proptest::option::weighted;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Cases per property (`PROPTEST_CASES` overrides): about 2 s on SQLite and
/// 7 s on PostgreSQL in a debug build, both properties together.
const CASES: u32 = 128;

/// 2026-01-01T00:00:00Z; call k happens k seconds later.
const BASE_SECS: i64 = 1_767_225_600;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn database(rt: &tokio::runtime::Runtime) -> (Db, TestDb) {
    rt.block_on(async {
        let test_db = TestDb::new().await;
        let db = Db::connect_url(&test_db.url).await.unwrap();
        db.migrate().await.unwrap();
        (db, test_db)
    })
}

/// A case's namespace: a fresh source and a prefix for identifier values.
struct Run {
    /// Unique per process run; numbers phones, which cannot carry a prefix.
    n: u32,
    ns: String,
    source: String,
}

async fn new_run(db: &Db) -> Run {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (source, _key) = create_source(
        db,
        &Actor::system(),
        &format!("props {n}"),
        SourceKind::Server,
    )
    .await
    .unwrap();
    Run {
        n,
        ns: format!("r{n}"),
        source: source.id,
    }
}

fn at_micros(k: usize) -> i64 {
    (BASE_SECS + k as i64) * 1_000_000
}

fn timestamp(k: usize) -> String {
    chrono::DateTime::from_timestamp(BASE_SECS + k as i64, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses `bodies` as the API does (one call, or a batch) and ingests them.
async fn send(db: &Db, source: &str, bodies: &[Value]) -> Ingested {
    let received = cove_core::clock::now();
    let parsed = match bodies {
        [one] => parse_request(
            CallType::parse(one["type"].as_str().unwrap()),
            one,
            received,
        ),
        _ => parse_request(None, &json!({ "batch": bodies }), received),
    };
    let (messages, _) = parsed.unwrap();
    ingest(db, source, &messages).await.unwrap()
}

/// Request sizes: small batches, or a few calls and then all the rest at
/// once (where one request merges a profile stored earlier more than once).
fn batch_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        vec(1..=8usize, 1..=6),
        (1..=8usize).prop_map(|first| vec![first, usize::MAX]),
    ]
}

/// `items` cut into consecutive requests of the given sizes (cycled).
fn requests<T>(items: &[T], sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for size in sizes.iter().cycle() {
        if start >= items.len() {
            break;
        }
        let end = start.saturating_add((*size).max(1)).min(items.len());
        out.push(start..end);
        start = end;
    }
    out
}

/// The rows of `sql`, whose one parameter is a case's source.
async fn source_rows(db: &Db, sql: &str, source: &str) -> Vec<AnyRow> {
    sqlx::query(sql)
        .bind(source)
        .fetch_all(db.pool())
        .await
        .unwrap()
}

fn registered(type_key: &str) -> bool {
    IdType::parse(type_key).is_ok_and(|t| t.is_registered())
}

fn limit(type_key: &str) -> usize {
    IdType::parse(type_key).unwrap().limit()
}

// ---------------------------------------------------------------------------
// 1. Order independence for truthful data
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Person {
    user: bool,
    anonymous_ids: usize,
    device: bool,
    email: bool,
    city: bool,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Identify,
    TrackAnonymous,
    TrackUser,
    Alias,
    IdentifyTraits,
    PageOnDevice,
}

#[derive(Debug, Clone)]
struct Call {
    person: usize,
    kind: Kind,
    anonymous: usize,
    by_user: bool,
}

#[derive(Debug, Clone)]
struct Truthful {
    people: Vec<Person>,
    calls: Vec<Call>,
    first: Vec<usize>,
    second: Vec<usize>,
    second_batches: Vec<usize>,
}

fn truthful() -> impl Strategy<Value = Truthful> {
    let person = (
        weighted(0.75, Just(())),
        1..=3usize,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(user, anonymous_ids, device, email, city)| Person {
            user: user.is_some(),
            anonymous_ids,
            device,
            email,
            city,
        });
    let kind = prop_oneof![
        Just(Kind::Identify),
        Just(Kind::TrackAnonymous),
        Just(Kind::TrackUser),
        Just(Kind::Alias),
        Just(Kind::IdentifyTraits),
        Just(Kind::PageOnDevice),
    ];
    vec(person, 1..=4)
        .prop_flat_map(move |people| {
            let call = (0..people.len(), kind.clone(), 0..3usize, any::<bool>()).prop_map(
                |(person, kind, anonymous, by_user)| Call {
                    person,
                    kind,
                    anonymous,
                    by_user,
                },
            );
            (Just(people), vec(call, 1..=24))
        })
        .prop_flat_map(|(people, calls)| {
            let order: Vec<usize> = (0..calls.len()).collect();
            (
                Just(people),
                Just(calls),
                Just(order.clone()).prop_shuffle(),
                Just(order).prop_shuffle(),
                batch_sizes(),
            )
        })
        .prop_map(|(people, calls, first, second, second_batches)| Truthful {
            people,
            calls,
            first,
            second,
            second_batches,
        })
}

/// One call as Segment JSON, the identifiers it names (`type:value`) and the
/// traits an identify sets.
struct Rendered {
    body: Value,
    ids: Vec<String>,
    traits: Map<String, Value>,
}

fn render_truthful(w: &Truthful, k: usize, ns: &str) -> Rendered {
    let call = &w.calls[k];
    let p = call.person;
    let person = &w.people[p];
    let anonymous = format!("{ns}.p{p}.a{}", call.anonymous % person.anonymous_ids);
    let user = person.user.then(|| format!("{ns}.p{p}.user"));
    let mut body = Map::new();
    body.insert("messageId".into(), json!(format!("m{k}")));
    body.insert("originalTimestamp".into(), json!(timestamp(k)));
    let mut ids = Vec::new();
    let mut traits = Map::new();
    fn set(body: &mut Map<String, Value>, key: &str, v: &str) {
        body.insert(key.into(), json!(v));
    }
    match (call.kind, &user) {
        (Kind::Identify, Some(u)) => {
            set(&mut body, "type", "identify");
            set(&mut body, "userId", u);
            set(&mut body, "anonymousId", &anonymous);
            ids.extend([format!("user_id:{u}"), format!("anonymous_id:{anonymous}")]);
        }
        (Kind::TrackUser, Some(u)) => {
            set(&mut body, "type", "track");
            set(&mut body, "event", "Order Completed");
            set(&mut body, "userId", u);
            ids.push(format!("user_id:{u}"));
        }
        (Kind::Alias, Some(u)) => {
            set(&mut body, "type", "alias");
            set(&mut body, "previousId", &anonymous);
            set(&mut body, "userId", u);
            ids.extend([format!("user_id:{u}"), format!("anonymous_id:{anonymous}")]);
        }
        (Kind::IdentifyTraits, _) => {
            set(&mut body, "type", "identify");
            match (&user, call.by_user) {
                (Some(u), true) => {
                    set(&mut body, "userId", u);
                    ids.push(format!("user_id:{u}"));
                }
                _ => {
                    set(&mut body, "anonymousId", &anonymous);
                    ids.push(format!("anonymous_id:{anonymous}"));
                }
            }
            traits.insert("name".into(), json!(format!("Person {p}")));
            if person.email {
                let email = format!("{ns}.p{p}@example.cn");
                ids.push(format!("email:{email}"));
                traits.insert("email".into(), json!(email));
            }
            if person.city {
                traits.insert("city".into(), json!(format!("City {p}")));
            }
            body.insert("traits".into(), Value::Object(traits.clone()));
        }
        (Kind::PageOnDevice, _) => {
            set(&mut body, "type", "page");
            set(&mut body, "name", "Home");
            set(&mut body, "anonymousId", &anonymous);
            ids.push(format!("anonymous_id:{anonymous}"));
            if person.device {
                let device = format!("{ns}.p{p}.dev");
                ids.push(format!("device_id:{device}"));
                body.insert("context".into(), json!({ "device": { "id": device } }));
            }
        }
        // TrackAnonymous, and the user calls of a person without a userId.
        _ => {
            set(&mut body, "type", "track");
            set(&mut body, "event", "Product Viewed");
            set(&mut body, "anonymousId", &anonymous);
            ids.push(format!("anonymous_id:{anonymous}"));
        }
    }
    Rendered {
        body: Value::Object(body),
        ids,
        traits,
    }
}

/// Union-find over identifier strings.
#[derive(Default)]
struct Components {
    parent: HashMap<String, String>,
}

impl Components {
    fn root(&mut self, id: &str) -> String {
        let parent = self
            .parent
            .entry(id.to_owned())
            .or_insert_with(|| id.to_owned())
            .clone();
        if parent == id {
            return parent;
        }
        let root = self.root(&parent);
        self.parent.insert(id.to_owned(), root.clone());
        root
    }

    fn join(&mut self, ids: &[String]) {
        let Some(first) = ids.first() else { return };
        let a = self.root(first);
        for id in &ids[1..] {
            let b = self.root(id);
            if a != b {
                self.parent.insert(b, a.clone());
            }
        }
    }
}

type Partition = BTreeSet<BTreeSet<String>>;

/// Ingests the calls in `order`, cut into requests of `sizes`, in a fresh
/// namespace; checks the outcome against the call graph's components and
/// returns the partition with the namespace stripped.
async fn ingest_truthful(
    db: &Db,
    w: &Truthful,
    order: &[usize],
    sizes: &[usize],
    merges: &AtomicUsize,
) -> Result<Partition, TestCaseError> {
    let run = new_run(db).await;
    let prefix = format!("{}.", run.ns);
    let rendered: Vec<Rendered> = (0..w.calls.len())
        .map(|k| render_truthful(w, k, &run.ns))
        .collect();
    let mut stored = 0;
    for range in requests(order, sizes) {
        let bodies: Vec<Value> = order[range]
            .iter()
            .map(|k| rendered[*k].body.clone())
            .collect();
        let out = send(db, &run.source, &bodies).await;
        prop_assert_eq!(out.duplicates, 0);
        stored += out.stored;
    }
    prop_assert_eq!(stored, w.calls.len());

    // What the calls imply.
    let mut components = Components::default();
    for r in &rendered {
        components.join(&r.ids);
    }
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut expected_traits: HashMap<String, Map<String, Value>> = HashMap::new();
    let mut seen: HashMap<String, (i64, i64)> = HashMap::new();
    for (k, r) in rendered.iter().enumerate() {
        let root = components.root(&r.ids[0]);
        expected
            .entry(root.clone())
            .or_default()
            .extend(r.ids.iter().cloned());
        let traits = expected_traits.entry(root.clone()).or_default();
        for (key, v) in &r.traits {
            traits.insert(key.clone(), v.clone());
        }
        let at = at_micros(k);
        let span = seen.entry(root).or_insert((at, at));
        *span = (span.0.min(at), span.1.max(at));
    }

    // What the graph holds.
    let rows = source_rows(
        db,
        "SELECT i.type, i.value, i.profile_id, p.merged_into, p.traits, p.first_seen_at, \
         p.last_seen_at FROM identities i JOIN profiles p ON p.id = i.profile_id \
         WHERE i.source_id = $1",
        &run.source,
    )
    .await;
    let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut facts: HashMap<String, (Map<String, Value>, i64, i64)> = HashMap::new();
    for row in rows {
        let (t, v, profile): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let merged_into: Option<String> = row.get(3);
        prop_assert!(
            merged_into.is_none(),
            "identity {t}:{v} points at merged profile {profile}"
        );
        let traits: String = row.get(4);
        let traits = match serde_json::from_str(&traits).unwrap() {
            Value::Object(m) => m,
            other => panic!("traits are not an object: {other}"),
        };
        facts.insert(profile.clone(), (traits, row.get(5), row.get(6)));
        let id = format!("{t}:{v}");
        owner.insert(id.clone(), profile.clone());
        held.entry(profile).or_default().insert(id);
    }
    let actual: Partition = held.values().cloned().collect();
    let wanted: Partition = expected.values().cloned().collect();
    prop_assert_eq!(
        &actual,
        &wanted,
        "surviving profiles differ from the components of the calls"
    );
    for (root, ids) in &expected {
        let profile = &owner[ids.iter().next().unwrap()];
        let (traits, first, last) = &facts[profile];
        prop_assert_eq!(traits, &expected_traits[root], "traits of {:?}", ids);
        prop_assert_eq!((*first, *last), seen[root], "first/last seen of {:?}", ids);
    }

    let events = source_rows(
        db,
        "SELECT e.message_id, COALESCE(p.merged_into, p.id) FROM raw_events e \
         JOIN profiles p ON p.id = e.profile_id WHERE e.source_id = $1",
        &run.source,
    )
    .await;
    prop_assert_eq!(events.len(), w.calls.len());
    let mut survivors = BTreeSet::new();
    for row in events {
        let (message_id, profile): (String, String) = (row.get(0), row.get(1));
        let k: usize = message_id[1..].parse().unwrap();
        for id in &rendered[k].ids {
            prop_assert_eq!(
                &owner[id],
                &profile,
                "event {} is not on the profile of {}",
                message_id,
                id
            );
        }
        survivors.insert(profile);
    }
    prop_assert_eq!(
        survivors.len(),
        expected.len(),
        "profiles without identities"
    );
    let merged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM profile_merges WHERE source_id = $1")
            .bind(&run.source)
            .fetch_one(db.pool())
            .await
            .unwrap();
    merges.fetch_add(usize::try_from(merged).unwrap(), Ordering::Relaxed);

    Ok(actual
        .into_iter()
        .map(|ids| ids.into_iter().map(|id| id.replace(&prefix, "")).collect())
        .collect())
}

#[test]
fn any_order_of_truthful_calls_gives_the_same_profiles() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, _test_db) = database(&rt);
    let merges = AtomicUsize::new(0);
    runner(cases(CASES))
        .run(&truthful(), |w| {
            rt.block_on(async {
                let one_by_one = ingest_truthful(&db, &w, &w.first, &[1], &merges).await?;
                let batched =
                    ingest_truthful(&db, &w, &w.second, &w.second_batches, &merges).await?;
                prop_assert_eq!(one_by_one, batched, "two orders gave different profiles");
                Ok(())
            })
        })
        .unwrap();
    // Components are only a proof of merging if some case had to merge.
    assert!(
        merges.load(Ordering::Relaxed) > 0,
        "no case merged profiles"
    );
}

/// The shape behind a failure of the property above, pinned down: in one
/// request a stored profile is merged into a new one, which a later event of
/// the same request merges into a third. Identities and merged profiles that
/// pointed at the first must end on the third, not on the second (a merged
/// profile).
#[test]
fn a_profile_merged_twice_in_one_request_leaves_nothing_on_the_one_between() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, _test_db) = database(&rt);
    rt.block_on(async {
        let run = new_run(&db).await;
        let ns = &run.ns;
        let (a0, a1, device, user) = (
            format!("{ns}.a0"),
            format!("{ns}.a1"),
            format!("{ns}.dev"),
            format!("{ns}.u"),
        );
        let track = |k: usize, key: &str, id: &str| {
            json!({"type": "track", "event": "Viewed", "messageId": format!("m{k}"), key: id})
        };
        let page = |k: usize, id: &str| {
            json!({"type": "page", "messageId": format!("m{k}"), "anonymousId": id,
                   "context": {"device": {"id": device}}})
        };
        send(&db, &run.source, &[track(0, "anonymousId", &a1), track(1, "userId", &user)]).await;
        send(
            &db,
            &run.source,
            &[
                // A new profile for a0 and the device ...
                page(2, &a0),
                // ... takes in a1's stored profile (the device outranks a1) ...
                page(3, &a1),
                // ... and goes into the user's profile.
                json!({"type": "identify", "messageId": "m4", "userId": user, "anonymousId": a0}),
            ],
        )
        .await;
        let rows = source_rows(
            &db,
            "SELECT i.value, i.profile_id, p.merged_into FROM identities i \
             JOIN profiles p ON p.id = i.profile_id WHERE i.source_id = $1",
            &run.source,
        )
        .await;
        let holders: BTreeMap<String, (String, Option<String>)> = rows
            .into_iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        assert_eq!(holders.len(), 4, "{holders:?}");
        let survivor = &holders[&user].0;
        for (value, (profile, merged_into)) in &holders {
            assert_eq!(
                (profile, merged_into),
                (survivor, &None),
                "{value} is not on the surviving profile"
            );
        }
        let pointing: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT merged_into FROM profiles WHERE merged_into IS NOT NULL AND id IN \
             (SELECT profile_id FROM raw_events WHERE source_id = $1)",
        )
        .bind(&run.source)
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            pointing,
            vec![survivor.clone()],
            "merged profiles point at a merged one"
        );
    });
}

// ---------------------------------------------------------------------------
// 2. Safety for adversarial data
// ---------------------------------------------------------------------------

const USERS: u8 = 4;
const ANONYMOUS_IDS: u8 = 12;
const PHONES: u8 = 4;
const UNIONIDS: u8 = 3;
const CARDS: u8 = 3;
const EMAILS: u8 = 7;
const OPENIDS: u8 = 3;
const DEVICES: u8 = 3;
const OPENID_TYPE: &str = "openid:wxprops";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Claimed {
    Identify,
    Track,
    Alias,
}

/// One call naming identifiers of anyone at all.
#[derive(Debug, Clone)]
struct Claim {
    kind: Claimed,
    user: Option<u8>,
    anonymous: Option<u8>,
    fallback_anonymous: u8,
    /// (a user id rather than an anonymous id, index)
    previous: (bool, u8),
    phone: Option<u8>,
    unionid: Option<u8>,
    card: Option<u8>,
    email: Option<u8>,
    openid: Option<u8>,
    device: Option<u8>,
    resend: bool,
}

#[derive(Debug, Clone)]
struct Mixed {
    claims: Vec<Claim>,
    batches: Vec<usize>,
}

fn mixed() -> impl Strategy<Value = Mixed> {
    let kind = prop_oneof![
        3 => Just(Claimed::Identify),
        3 => Just(Claimed::Track),
        2 => Just(Claimed::Alias),
    ];
    let claim = (
        (
            kind,
            weighted(0.45, 0..USERS),
            weighted(0.8, 0..ANONYMOUS_IDS),
            0..ANONYMOUS_IDS,
            (any::<bool>(), 0..ANONYMOUS_IDS),
            weighted(0.15, Just(())),
        ),
        (
            weighted(0.2, 0..PHONES),
            weighted(0.1, 0..UNIONIDS),
            weighted(0.1, 0..CARDS),
            weighted(0.3, 0..EMAILS),
            weighted(0.2, 0..OPENIDS),
            weighted(0.35, 0..DEVICES),
        ),
    )
        .prop_map(
            |(
                (kind, user, anonymous, fallback_anonymous, previous, resend),
                (phone, unionid, card, email, openid, device),
            )| Claim {
                kind,
                user,
                anonymous,
                fallback_anonymous,
                previous: (
                    previous.0,
                    previous.1 % (if previous.0 { USERS } else { ANONYMOUS_IDS }),
                ),
                phone,
                unionid,
                card,
                email,
                openid,
                device,
                resend: resend.is_some(),
            },
        );
    (vec(claim, 1..=40), batch_sizes()).prop_map(|(claims, batches)| Mixed { claims, batches })
}

/// An identifier as the graph stores it: (type key, value).
type Id = (String, String);

struct Sent {
    body: Value,
    ids: Vec<Id>,
    previous: Option<String>,
}

fn render_claim(c: &Claim, k: usize, run: &Run) -> Sent {
    let ns = &run.ns;
    let user = |i: u8| format!("{ns}.u{i}");
    let anonymous = |i: u8| format!("{ns}.a{i}");
    let mut ids: Vec<Id> = Vec::new();
    let mut body = Map::new();
    body.insert("messageId".into(), json!(format!("m{k}")));
    body.insert("originalTimestamp".into(), json!(timestamp(k)));
    let user_id = match c.kind {
        Claimed::Alias => Some(c.user.unwrap_or(0)),
        _ => c.user,
    }
    .map(user);
    let anonymous_id = match (&user_id, c.anonymous) {
        (None, None) => Some(anonymous(c.fallback_anonymous)),
        (_, a) => a.map(anonymous),
    };
    if let Some(u) = &user_id {
        body.insert("userId".into(), json!(u));
        ids.push(("user_id".into(), u.clone()));
    }
    if let Some(a) = &anonymous_id {
        body.insert("anonymousId".into(), json!(a));
        ids.push(("anonymous_id".into(), a.clone()));
    }
    let mut traits = Map::new();
    if let Some(i) = c.phone {
        let national = format!("139{:04}{:04}", run.n % 10_000, i);
        ids.push(("phone".into(), format!("+86{national}")));
        traits.insert("phone".into(), json!(national));
    }
    for (key, index, value) in [
        ("unionid", c.unionid, "un"),
        ("member_card", c.card, "card"),
    ] {
        if let Some(i) = index {
            let v = format!("{ns}.{value}{i}");
            ids.push((key.into(), v.clone()));
            traits.insert(key.into(), json!(v));
        }
    }
    if let Some(i) = c.email {
        let v = format!("{ns}.e{i}@example.cn");
        ids.push(("email".into(), v.clone()));
        traits.insert("email".into(), json!(v));
    }
    let mut context = Map::new();
    if let Some(i) = c.device {
        let v = format!("{ns}.d{i}");
        ids.push(("device_id".into(), v.clone()));
        context.insert("device".into(), json!({ "id": v }));
    }
    if let Some(i) = c.openid {
        let v = format!("{ns}.o{i}");
        ids.push((OPENID_TYPE.into(), v.clone()));
        context.insert(
            "externalIds".into(),
            json!([{ "type": OPENID_TYPE, "id": v, "collection": "users", "encoding": "none" }]),
        );
    }
    let mut previous = None;
    match c.kind {
        Claimed::Identify => {
            body.insert("type".into(), json!("identify"));
            body.insert("traits".into(), Value::Object(traits));
        }
        Claimed::Track => {
            body.insert("type".into(), json!("track"));
            body.insert("event".into(), json!("Product Viewed"));
            context.insert("traits".into(), Value::Object(traits));
        }
        Claimed::Alias => {
            body.insert("type".into(), json!("alias"));
            let (is_user, i) = c.previous;
            let p = if is_user { user(i) } else { anonymous(i) };
            body.insert("previousId".into(), json!(p));
            previous = Some(p);
            context.insert("traits".into(), Value::Object(traits));
        }
    }
    body.insert("context".into(), Value::Object(context));
    Sent {
        body: Value::Object(body),
        ids,
        previous,
    }
}

/// The identity graph rebuilt from its own records, event by event.
#[derive(Default)]
struct Replay {
    owner: HashMap<Id, String>,
    held: HashMap<String, BTreeSet<Id>>,
    /// Merged profile → its surviving profile.
    merged: HashMap<String, String>,
}

impl Replay {
    fn is_registered(&self, profile: &str) -> bool {
        self.held
            .get(profile)
            .is_some_and(|ids| ids.iter().any(|(t, _)| registered(t)))
    }

    fn merge(&mut self, survivor: &str, loser: &str) {
        for id in self.held.remove(loser).unwrap_or_default() {
            self.owner.insert(id.clone(), survivor.to_owned());
            self.held.entry(survivor.to_owned()).or_default().insert(id);
        }
        for target in self.merged.values_mut() {
            if target == loser {
                *target = survivor.to_owned();
            }
        }
        self.merged.insert(loser.to_owned(), survivor.to_owned());
    }
}

#[derive(Default)]
struct Seen {
    merges: AtomicUsize,
    conflicts: AtomicUsize,
    demoted: AtomicUsize,
}

async fn check_mixed(db: &Db, w: &Mixed, seen: &Seen) -> Result<(), TestCaseError> {
    let run = new_run(db).await;
    let sent: Vec<Sent> = w
        .claims
        .iter()
        .enumerate()
        .map(|(k, c)| render_claim(c, k, &run))
        .collect();
    // A re-sent call follows its first sending, maybe in the same request.
    let mut order: Vec<usize> = Vec::new();
    for (k, c) in w.claims.iter().enumerate() {
        order.push(k);
        if c.resend {
            order.push(k);
        }
    }
    let (mut stored, mut duplicates) = (0, 0);
    for range in requests(&order, &w.batches) {
        let bodies: Vec<Value> = order[range].iter().map(|k| sent[*k].body.clone()).collect();
        let out = send(db, &run.source, &bodies).await;
        stored += out.stored;
        duplicates += out.duplicates;
    }
    prop_assert_eq!(stored, w.claims.len(), "every message stored once");
    prop_assert_eq!(duplicates, order.len() - w.claims.len());

    let source = &run.source;
    let events: Vec<(String, i64, String)> = source_rows(
        db,
        "SELECT message_id, occurred_at, profile_id FROM raw_events WHERE source_id = $1 \
         ORDER BY occurred_at",
        source,
    )
    .await
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    prop_assert_eq!(events.len(), w.claims.len());
    let mut attached: HashMap<i64, Vec<Id>> = HashMap::new();
    for r in source_rows(
        db,
        "SELECT type, value, created_at FROM identities WHERE source_id = $1",
        source,
    )
    .await
    {
        attached
            .entry(r.get(2))
            .or_default()
            .push((r.get(0), r.get(1)));
    }
    let mut merges: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in source_rows(
        db,
        "SELECT message_id, survivor_id, merged_id FROM profile_merges WHERE source_id = $1",
        source,
    )
    .await
    {
        merges
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    let mut conflicts: HashMap<String, Vec<(String, String, Id)>> = HashMap::new();
    let mut conflict_pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for r in source_rows(
        db,
        "SELECT message_id, profile_id, other_profile_id, identity_type, identity_value \
         FROM identity_conflicts WHERE source_id = $1",
        source,
    )
    .await
    {
        let (profile, other): (String, String) = (r.get(1), r.get(2));
        conflict_pairs.insert((profile.clone(), other.clone()));
        conflicts
            .entry(r.get(0))
            .or_default()
            .push((profile, other, (r.get(3), r.get(4))));
    }
    seen.merges
        .fetch_add(merges.values().map(Vec::len).sum(), Ordering::Relaxed);
    seen.conflicts
        .fetch_add(conflict_pairs.len(), Ordering::Relaxed);

    let mut g = Replay::default();
    let mut identities_replayed = 0;
    for (message_id, at, target) in &events {
        let k: usize = message_id[1..].parse().unwrap();
        prop_assert_eq!(*at, at_micros(k));
        let s = &sent[k];
        // The identifiers the event resolves with: an alias's previousId as a
        // known user id, else as an anonymous id (known or new).
        let mut named: BTreeSet<Id> = s.ids.iter().cloned().collect();
        if let Some(p) = &s.previous {
            let as_user: Id = ("user_id".into(), p.clone());
            if g.owner.contains_key(&as_user) {
                named.insert(as_user);
            } else {
                named.insert(("anonymous_id".into(), p.clone()));
            }
        }
        let named_registered: BTreeSet<String> = named
            .iter()
            .filter(|(t, _)| registered(t))
            .filter_map(|id| g.owner.get(id).cloned())
            .collect();
        let named_profiles: BTreeSet<String> = named
            .iter()
            .filter_map(|id| g.owner.get(id).cloned())
            .collect();
        let before: HashMap<Id, String> = g.owner.clone();

        let own_merges = merges.remove(message_id).unwrap_or_default();
        let losers: Vec<&String> = own_merges.iter().map(|(_, l)| l).collect();
        for (survivor, loser) in &own_merges {
            prop_assert_eq!(
                survivor,
                target,
                "{} merged into another profile",
                message_id
            );
            prop_assert!(
                named_profiles.contains(loser) && named_profiles.contains(survivor),
                "{message_id} merged profiles it did not name"
            );
            prop_assert!(
                !g.is_registered(loser),
                "{message_id} merged {loser} into {survivor}, \
                 though it held a registered identifier: {:?}",
                g.held.get(loser)
            );
        }
        for loser in losers {
            g.merge(target, loser);
        }
        prop_assert!(
            !g.merged.contains_key(target),
            "{message_id} went to merged profile {target}"
        );
        for id in attached.remove(at).unwrap_or_default() {
            prop_assert!(
                named.contains(&id),
                "{message_id} attached {id:?}, which it did not name"
            );
            prop_assert!(!before.contains_key(&id), "{id:?} attached twice");
            identities_replayed += 1;
            g.owner.insert(id.clone(), target.clone());
            g.held.entry(target.clone()).or_default().insert(id);
        }
        let holds = g.held.get(target).cloned().unwrap_or_default();
        prop_assert!(
            named.iter().any(|id| holds.contains(id)),
            "{message_id} is on {target}, which holds none of its identifiers"
        );
        let mut per_type: HashMap<&str, usize> = HashMap::new();
        for (t, _) in &holds {
            *per_type.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in per_type {
            prop_assert!(
                n <= limit(t),
                "after {message_id}, {target} holds {n} identifiers of type {t}: {holds:?}"
            );
        }
        seen.demoted.fetch_add(
            named.iter().filter(|id| !g.owner.contains_key(*id)).count(),
            Ordering::Relaxed,
        );
        for (profile, other, id) in conflicts.remove(message_id).unwrap_or_default() {
            prop_assert_eq!(
                &profile,
                target,
                "conflict of {} names another profile",
                message_id
            );
            prop_assert_ne!(&other, target);
            prop_assert_eq!(
                before.get(&id),
                Some(&other),
                "conflict of {} names {:?}, not held by {}",
                message_id,
                id,
                other
            );
            prop_assert!(
                g.is_registered(&other) && g.is_registered(target),
                "conflict of {message_id} between {target} and {other}, not both registered"
            );
        }
        if named_registered.len() >= 2 {
            for other in named_registered.iter().filter(|o| *o != target) {
                prop_assert!(
                    conflict_pairs.contains(&(target.clone(), other.clone())),
                    "{message_id} named registered {named_registered:?}, went to {target}, \
                     and no conflict ties it to {other}"
                );
            }
        }
    }
    prop_assert!(
        attached.is_empty(),
        "identities attached by no event: {attached:?}"
    );
    prop_assert!(merges.is_empty(), "merges by no event: {merges:?}");
    prop_assert!(conflicts.is_empty(), "conflicts of no event: {conflicts:?}");

    // The stored graph is the replayed one.
    let stored: HashMap<Id, String> = source_rows(
        db,
        "SELECT type, value, profile_id FROM identities WHERE source_id = $1",
        source,
    )
    .await
    .into_iter()
    .map(|r| ((r.get(0), r.get(1)), r.get(2)))
    .collect();
    prop_assert_eq!(stored.len(), identities_replayed);
    prop_assert_eq!(
        &stored,
        &g.owner,
        "stored identities differ from the replay"
    );
    let profiles: HashMap<String, Option<String>> = source_rows(
        db,
        "SELECT id, merged_into FROM profiles WHERE id IN \
         (SELECT profile_id FROM raw_events WHERE source_id = $1)",
        source,
    )
    .await
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    for (id, merged_into) in &profiles {
        prop_assert_eq!(
            merged_into.as_ref(),
            g.merged.get(id),
            "profile {} points at the wrong survivor",
            id
        );
    }
    // Each event on a surviving profile holding one of its identifiers (its
    // own, or the one it was merged into).
    for (message_id, _, profile) in &events {
        let k: usize = message_id[1..].parse().unwrap();
        let survivor = profiles[profile].as_ref().unwrap_or(profile);
        let s = &sent[k];
        let mut named: Vec<Id> = s.ids.clone();
        if let Some(p) = &s.previous {
            named.push(("user_id".into(), p.clone()));
            named.push(("anonymous_id".into(), p.clone()));
        }
        prop_assert!(
            named.iter().any(|id| stored.get(id) == Some(survivor)),
            "event {message_id} ends on {survivor}, which holds none of its identifiers"
        );
    }
    Ok(())
}

#[test]
fn mixed_up_calls_never_join_two_registered_profiles() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, _test_db) = database(&rt);
    let seen = Seen::default();
    runner(cases(CASES))
        .run(&mixed(), |w| rt.block_on(check_mixed(&db, &w, &seen)))
        .unwrap();
    // The generator must exercise the rules, or the properties say little.
    for (what, n) in [
        ("merges", &seen.merges),
        ("conflicts", &seen.conflicts),
        ("demoted identifiers", &seen.demoted),
    ] {
        assert!(n.load(Ordering::Relaxed) > 0, "no case produced {what}");
    }
}
