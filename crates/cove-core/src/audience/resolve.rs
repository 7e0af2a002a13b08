//! Identity resolution: which profile an event belongs to, and what the
//! graph learns from it.
//!
//! [`plan`] is the pure rule; [`resolve`] reads the graph, applies the plan
//! inside the caller's transaction and returns the profile id.
//!
//! The rules (spec §9.4):
//!
//! 1. The event's identifiers (blocked values already dropped) are looked up.
//!    No match → a new profile holding them. One profile → new identifiers are
//!    attached to it. Several profiles → they are merged into one, **unless
//!    two or more of them hold a registered identity** (user_id, phone,
//!    unionid, member card): then nothing is merged, the event goes to the
//!    registered profile of its highest-priority identifier, and a conflict
//!    is recorded for each other registered profile.
//! 2. Limits: if the result would give one profile more identifiers of a type
//!    than [`IdType::limit`] allows, the event's lowest-priority identifier is
//!    demoted (neither matched nor attached) and matching is retried. This is
//!    what keeps a shared device (one anonymous id, two users) from merging
//!    two people: the anonymous id is demoted and the second user gets a
//!    profile of their own. A demoted *registered* identifier that belongs to
//!    another registered profile is recorded as a conflict.
//! 3. The survivor of a merge is the registered profile if there is one,
//!    otherwise the profile of the event's highest-priority identifier.
//!
//! Merges are cheap: the losing profile gets `merged_into`, its identities
//! are repointed to the survivor (a handful of rows), and profiles merged
//! into the loser earlier are repointed too, so `merged_into` is never a
//! chain. Events are **not** rewritten: they keep the profile id they were
//! stored with and reads gather `id = P OR merged_into = P`. Rewriting events
//! would make a merge cost as much as the person's whole history, inside the
//! ingesting transaction; reading through one indexed level costs nothing.

use super::graph::{candidates, Graph};
use super::identity::{IdType, Identifier};
use crate::clock::Micros;
use crate::db::{new_id, Backend, Conn};
use crate::error::Result;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// An identifier of the event and the (surviving) profile holding it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: Identifier,
    pub profile: Option<String>,
}

/// What the graph knows about a matched profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileFacts {
    /// Identifiers held, per type key.
    pub counts: BTreeMap<String, usize>,
    /// Holds at least one registered identity.
    pub registered: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    New,
    Existing(String),
}

/// What to do for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub target: Target,
    /// Identifiers to attach to the target (unmatched ones that were kept).
    pub attach: Vec<Identifier>,
    /// Profiles to merge into the target.
    pub merge: Vec<String>,
    /// (other registered profile, the identifier that pointed at it).
    pub conflicts: Vec<(String, Identifier)>,
}

/// Decides what an event with these identifiers (strongest first) does.
pub fn plan(incoming: &[Match], facts: &HashMap<String, ProfileFacts>) -> Plan {
    let is_registered = |p: &str| facts.get(p).is_some_and(|f| f.registered);
    let mut kept: Vec<&Match> = incoming.iter().collect();
    kept.sort_by_key(|m| m.id.id_type.priority());
    let mut conflicts: Vec<(String, Identifier)> = Vec::new();
    loop {
        let mut profiles: Vec<&str> = Vec::new();
        for p in kept.iter().filter_map(|m| m.profile.as_deref()) {
            if !profiles.contains(&p) {
                profiles.push(p);
            }
        }
        let registered: Vec<&str> = profiles
            .iter()
            .copied()
            .filter(|p| is_registered(p))
            .collect();
        let conflict_mode = registered.len() >= 2;
        // A registered profile when there is one, so that a conflict always
        // ties two registered profiles (an event may reach them through
        // weaker identifiers than the one naming an unregistered profile).
        let target = registered.first().or(profiles.first()).copied();
        let joined: Vec<&str> = if conflict_mode {
            target.into_iter().collect()
        } else {
            profiles.clone()
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for p in &joined {
            if let Some(f) = facts.get(*p) {
                for (k, n) in &f.counts {
                    *counts.entry(k.clone()).or_default() += n;
                }
            }
        }
        let unmatched: Vec<&Identifier> = kept
            .iter()
            .filter(|m| m.profile.is_none())
            .map(|m| &m.id)
            .collect();
        for id in &unmatched {
            *counts.entry(id.key()).or_default() += 1;
        }
        let over = counts
            .iter()
            .any(|(k, n)| IdType::parse(k).is_ok_and(|t| *n > t.limit()));
        if over && kept.len() > 1 {
            if let Some(demoted) = kept.pop() {
                if let Some(p) = &demoted.profile {
                    let target_profile = kept.iter().find_map(|m| m.profile.as_deref());
                    if demoted.id.id_type.is_registered()
                        && is_registered(p)
                        && target_profile != Some(p.as_str())
                        && kept.iter().any(|m| m.id.id_type.is_registered())
                    {
                        conflicts.push((p.clone(), demoted.id.clone()));
                    }
                }
            }
            continue;
        }
        let attach: Vec<Identifier> = unmatched.into_iter().cloned().collect();
        let Some(target) = target else {
            return Plan {
                target: Target::New,
                attach,
                merge: Vec::new(),
                conflicts,
            };
        };
        let merge = if conflict_mode {
            for m in &kept {
                if let Some(p) = m.profile.as_deref() {
                    if p != target && is_registered(p) && !conflicts.iter().any(|(c, _)| c == p) {
                        conflicts.push((p.to_owned(), m.id.clone()));
                    }
                }
            }
            Vec::new()
        } else {
            profiles
                .iter()
                .filter(|p| **p != target)
                .map(|p| (*p).to_owned())
                .collect()
        };
        conflicts.retain(|(p, _)| p != target);
        return Plan {
            target: Target::Existing(target.to_owned()),
            attach,
            merge,
            conflicts,
        };
    }
}

/// Where an event came from, for the graph's provenance columns.
pub struct Origin<'a> {
    pub source_id: &'a str,
    pub message_id: &'a str,
    pub at: Micros,
}

/// Resolves the profile for `ids` (and an alias's `previous_id`, which names
/// a known user or else an anonymous visitor), applying merges, attachments
/// and conflicts in `conn`'s transaction. Returns the target profile id.
pub async fn resolve(
    conn: &mut Conn,
    backend: Backend,
    ids: &[Identifier],
    previous_id: Option<&str>,
    origin: &Origin<'_>,
) -> Result<String> {
    let mut graph = Graph::load(conn, backend, &candidates(ids, previous_id)).await?;
    let target = graph.resolve(ids, previous_id, origin);
    graph.flush(conn).await?;
    Ok(target)
}

/// Merges `loser` into `survivor`: identities move, traits combine (the
/// survivor's win), first/last seen widen, and earlier merges are repointed.
pub async fn merge_profiles(
    conn: &mut Conn,
    survivor: &str,
    loser: &str,
    origin: &Origin<'_>,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, traits, first_seen_at, last_seen_at FROM profiles WHERE id = $1 OR id = $2",
    )
    .bind(survivor)
    .bind(loser)
    .fetch_all(&mut *conn)
    .await?;
    let mut traits_of: HashMap<String, (Value, i64, i64)> = HashMap::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let traits: String = row.try_get(1)?;
        traits_of.insert(
            id,
            (
                serde_json::from_str(&traits).unwrap_or(Value::Object(Default::default())),
                row.try_get(2)?,
                row.try_get(3)?,
            ),
        );
    }
    let (Some((s_traits, s_first, s_last)), Some((l_traits, l_first, l_last))) =
        (traits_of.get(survivor), traits_of.get(loser))
    else {
        return Ok(());
    };
    let mut combined = l_traits.clone();
    merge_traits(&mut combined, s_traits);
    sqlx::query(
        "UPDATE profiles SET traits = $1, first_seen_at = $2, last_seen_at = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(combined.to_string())
    .bind((*s_first).min(*l_first))
    .bind((*s_last).max(*l_last))
    .bind(origin.at)
    .bind(survivor)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE identities SET profile_id = $1 WHERE profile_id = $2")
        .bind(survivor)
        .bind(loser)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE profiles SET merged_into = $1, updated_at = $2 WHERE id = $3 OR merged_into = $3",
    )
    .bind(survivor)
    .bind(origin.at)
    .bind(loser)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO profile_merges (id, survivor_id, merged_id, source_id, message_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(survivor)
    .bind(loser)
    .bind(origin.source_id)
    .bind(origin.message_id)
    .bind(origin.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Top-level keys of `overlay` replace those of `base`; a null removes the key.
pub fn merge_traits(base: &mut Value, overlay: &Value) {
    let (Value::Object(b), Value::Object(o)) = (base, overlay) else {
        return;
    };
    for (k, v) in o {
        if v.is_null() {
            b.remove(k);
        } else {
            b.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(t: IdType, v: &str) -> Identifier {
        Identifier::new(t, v).unwrap()
    }
    fn m(t: IdType, v: &str, p: Option<&str>) -> Match {
        Match {
            id: id(t, v),
            profile: p.map(str::to_owned),
        }
    }
    fn facts(entries: &[(&str, &[(&str, usize)])]) -> HashMap<String, ProfileFacts> {
        entries
            .iter()
            .map(|(p, counts)| {
                let counts: BTreeMap<String, usize> =
                    counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
                let registered = counts
                    .keys()
                    .any(|k| IdType::parse(k).unwrap().is_registered());
                ((*p).to_owned(), ProfileFacts { counts, registered })
            })
            .collect()
    }

    #[test]
    fn no_match_creates_a_profile_with_all_identifiers() {
        let p = plan(
            &[
                m(IdType::UserId, "u1", None),
                m(IdType::AnonymousId, "a1", None),
            ],
            &HashMap::new(),
        );
        assert_eq!(p.target, Target::New);
        assert_eq!(p.attach.len(), 2);
        assert!(p.merge.is_empty() && p.conflicts.is_empty());
    }

    #[test]
    fn anonymous_activity_joins_the_identified_profile() {
        // identify(userId u1, anonymousId a1) where a1 already has a profile.
        let f = facts(&[("A", &[("anonymous_id", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", None),
                m(IdType::AnonymousId, "a1", Some("A")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("A".into()));
        assert_eq!(p.attach, vec![id(IdType::UserId, "u1")]);
        // u1 already known on K: the anonymous profile merges into it.
        let f = facts(&[("A", &[("anonymous_id", 1)]), ("K", &[("user_id", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", Some("K")),
                m(IdType::AnonymousId, "a1", Some("A")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("K".into()));
        assert_eq!(p.merge, vec!["A".to_owned()]);
        assert!(p.conflicts.is_empty());
    }

    #[test]
    fn the_registered_profile_survives_even_when_matched_by_a_weaker_identifier() {
        let f = facts(&[("A", &[("anonymous_id", 1)]), ("K", &[("phone", 1)])]);
        let p = plan(
            &[
                m(IdType::Email, "a@b.cn", Some("A")),
                m(IdType::DeviceId, "d", Some("K")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("K".into()));
        assert_eq!(p.merge, vec!["A".to_owned()]);
    }

    #[test]
    fn two_registered_profiles_are_never_merged() {
        let f = facts(&[("P1", &[("user_id", 1)]), ("P2", &[("phone", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", Some("P1")),
                m(IdType::Phone, "13912340000", Some("P2")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("P1".into()));
        assert!(p.merge.is_empty());
        assert_eq!(
            p.conflicts,
            vec![("P2".to_owned(), id(IdType::Phone, "13912340000"))]
        );
        // Two user ids (an alias between two accounts).
        let f = facts(&[("P1", &[("user_id", 1)]), ("P2", &[("user_id", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u2", Some("P2")),
                m(IdType::UserId, "u1", Some("P1")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("P2".into()));
        assert!(p.merge.is_empty());
        assert_eq!(p.conflicts.len(), 1);
        assert_eq!(p.conflicts[0].0, "P1");
    }

    #[test]
    fn a_conflict_ties_two_registered_profiles_even_below_an_unregistered_one() {
        // The openid outranks the email and the anonymous id, but its profile
        // holds no registered identity: the event goes to the registered
        // profile of the email, and the conflict is between the two people.
        let f = facts(&[
            ("O", &[("openid:wx", 1), ("anonymous_id", 1)]),
            ("U", &[("user_id", 1), ("email", 1)]),
            ("C", &[("member_card", 1), ("anonymous_id", 1)]),
        ]);
        let p = plan(
            &[
                m(IdType::OpenId("wx".into()), "o1", Some("O")),
                m(IdType::Email, "a@b.cn", Some("U")),
                m(IdType::AnonymousId, "a1", Some("C")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("U".into()));
        assert!(p.merge.is_empty());
        assert_eq!(
            p.conflicts,
            vec![("C".to_owned(), id(IdType::AnonymousId, "a1"))]
        );
    }

    #[test]
    fn a_shared_device_does_not_join_two_users() {
        // a1 belongs to u1's profile; u2 signs in on the same device.
        let f = facts(&[("P1", &[("user_id", 1), ("anonymous_id", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u2", None),
                m(IdType::AnonymousId, "a1", Some("P1")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::New, "the anonymous id is demoted");
        assert_eq!(p.attach, vec![id(IdType::UserId, "u2")]);
        assert!(p.conflicts.is_empty(), "a shared device is not a conflict");
    }

    #[test]
    fn limits_demote_the_weakest_new_identifier() {
        let f = facts(&[(
            "P",
            &[
                ("user_id", 1),
                ("anonymous_id", IdType::AnonymousId.limit()),
            ],
        )]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", Some("P")),
                m(IdType::AnonymousId, "new", None),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("P".into()));
        assert!(
            p.attach.is_empty(),
            "over the anonymous-id limit: not attached"
        );
        // A second phone for a profile that has one is not attached either.
        let f = facts(&[("P", &[("user_id", 1), ("phone", 1)])]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", Some("P")),
                m(IdType::Phone, "13912340001", None),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("P".into()));
        assert!(p.attach.is_empty());
    }

    #[test]
    fn a_registered_identifier_of_another_person_is_a_conflict_even_when_demoted() {
        // u1's event claims the phone of registered profile P2 (which has u2 too).
        let f = facts(&[
            ("P1", &[("user_id", 1)]),
            ("P2", &[("user_id", 1), ("phone", 1)]),
        ]);
        let p = plan(
            &[
                m(IdType::UserId, "u1", Some("P1")),
                m(IdType::Phone, "13912340000", Some("P2")),
            ],
            &f,
        );
        assert_eq!(p.target, Target::Existing("P1".into()));
        assert!(p.merge.is_empty());
        assert_eq!(
            p.conflicts,
            vec![("P2".to_owned(), id(IdType::Phone, "13912340000"))]
        );
    }

    #[test]
    fn traits_merge_at_the_top_level() {
        let mut base = serde_json::json!({"a": 1, "b": {"x": 1}, "c": 3});
        merge_traits(
            &mut base,
            &serde_json::json!({"b": {"y": 2}, "c": null, "d": 4}),
        );
        assert_eq!(base, serde_json::json!({"a": 1, "b": {"y": 2}, "d": 4}));
    }
}
