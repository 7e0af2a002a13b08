//! Per-source throttling of ingestion, held across the cluster. A source
//! past its rate gets 429 `source_rate_limited` with the seconds to wait, and
//! nothing of the refused request is stored, so a Segment client's retry
//! with backoff delivers it later.
//!
//! Each node keeps a token bucket per source in memory (no database round
//! trip per request) sized to its share of the limit: the configured rate
//! and burst divided by the number of live nodes. Nodes learn that number
//! through the database: each heartbeats into `ingest_nodes` every few
//! seconds ([`Throttle::heartbeat`]) and counts the rows seen within
//! [`LIVE_FOR`]. A load balancer spreads a source's requests over the nodes,
//! so N shares add up to the limit; a node that stops heartbeating drops
//! out of the count and the others take its share. A node that leaves
//! cleanly deletes its row at once.

use crate::clock::{Micros, SECOND};
use crate::config::IngestConfig;
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// A node whose last heartbeat is older than this no longer takes a share.
pub const LIVE_FOR: Micros = 15 * SECOND;

#[derive(Debug, Clone)]
pub struct Throttle {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    /// This node's row in `ingest_nodes`.
    node_id: Arc<str>,
    /// Live nodes sharing each source's limit (at least 1).
    nodes: Arc<AtomicU32>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            buckets: Default::default(),
            node_id: new_id().into(),
            nodes: Arc::new(AtomicU32::new(1)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// Takes `events` tokens from `source`'s bucket, or says how long to wait.
    pub fn admit(&self, config: &IngestConfig, source: &str, events: usize) -> Result<()> {
        self.admit_at(config, source, events, Instant::now())
    }

    /// Live nodes this node shares each source's limit with (itself included).
    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Relaxed).max(1)
    }

    /// Records that this node is alive at `now` and recounts the live nodes.
    pub async fn heartbeat(&self, db: &Db, now: Micros) -> Result<u32> {
        sqlx::query(
            "INSERT INTO ingest_nodes (node_id, heartbeat_at) VALUES ($1, $2) \
             ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(&*self.node_id)
        .bind(now)
        .execute(db.pool())
        .await?;
        // Rows of nodes gone for a day are only clutter.
        sqlx::query("DELETE FROM ingest_nodes WHERE heartbeat_at < $1")
            .bind(now - 24 * 3600 * SECOND)
            .execute(db.pool())
            .await?;
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ingest_nodes WHERE heartbeat_at > $1")
                .bind(now - LIVE_FOR)
                .fetch_one(db.pool())
                .await?;
        let live = u32::try_from(live).unwrap_or(u32::MAX).max(1);
        self.nodes.store(live, Ordering::Relaxed);
        Ok(live)
    }

    /// This node stops taking a share: the others get it at their next heartbeat.
    pub async fn leave(&self, db: &Db) -> Result<()> {
        sqlx::query("DELETE FROM ingest_nodes WHERE node_id = $1")
            .bind(&*self.node_id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    fn admit_at(
        &self,
        config: &IngestConfig,
        source: &str,
        events: usize,
        now: Instant,
    ) -> Result<()> {
        if config.events_per_second == 0 {
            return Ok(());
        }
        let nodes = f64::from(self.nodes());
        let rate = f64::from(config.events_per_second) / nodes;
        let burst = f64::from(config.burst.max(config.events_per_second)) / nodes;
        // A request larger than the whole bucket could never pass: it costs a full bucket.
        let cost = (events as f64).min(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(source.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            return Ok(());
        }
        let wait = ((cost - bucket.tokens) / rate).ceil().max(1.0) as u64;
        Err(Error::RateLimited {
            code: "source_rate_limited",
            message: format!(
                "this source sends more than {} events per second; retry in {wait} s",
                config.events_per_second
            ),
            retry_after_secs: wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_not_affected() {
        let config = IngestConfig {
            events_per_second: 10,
            burst: 20,
            ..IngestConfig::default()
        };
        let t = Throttle::default();
        let start = Instant::now();
        assert!(t.admit_at(&config, "a", 20, start).is_ok());
        let err = t.admit_at(&config, "a", 5, start).unwrap_err();
        assert_eq!(err.code(), "source_rate_limited");
        let Error::RateLimited {
            retry_after_secs, ..
        } = err
        else {
            panic!()
        };
        assert_eq!(retry_after_secs, 1);
        assert!(t.admit_at(&config, "b", 20, start).is_ok());
        assert!(t
            .admit_at(&config, "a", 5, start + Duration::from_millis(500))
            .is_ok());
        assert!(t
            .admit_at(&config, "a", 1, start + Duration::from_millis(500))
            .is_err());
        // A request bigger than the bucket passes once the bucket is full.
        assert!(t.admit_at(&config, "c", 100, start).is_ok());
        let off = IngestConfig {
            events_per_second: 0,
            burst: 0,
            ..IngestConfig::default()
        };
        assert!(t.admit_at(&off, "a", 1_000_000, start).is_ok());
    }

    #[test]
    fn a_node_takes_its_share_of_the_rate_and_burst() {
        let config = IngestConfig {
            events_per_second: 10,
            burst: 20,
            ..IngestConfig::default()
        };
        let t = Throttle::default();
        t.nodes.store(2, Ordering::Relaxed);
        let start = Instant::now();
        assert!(t.admit_at(&config, "a", 10, start).is_ok());
        assert!(t.admit_at(&config, "a", 1, start).is_err());
        // Half the rate: 5 events a second.
        let later = start + Duration::from_secs(1);
        assert!(t.admit_at(&config, "a", 5, later).is_ok());
        assert!(t.admit_at(&config, "a", 1, later).is_err());
        // Alone again: the whole burst refills at the whole rate.
        t.nodes.store(1, Ordering::Relaxed);
        let alone = later + Duration::from_secs(2);
        assert!(t.admit_at(&config, "a", 20, alone).is_ok());
    }
}
