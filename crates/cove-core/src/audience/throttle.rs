//! Per-source throttling of ingestion: a token bucket per source on each
//! node. A source past its rate gets 429 `source_rate_limited` with the
//! seconds to wait, and nothing of the refused request is stored, so a
//! Segment client's retry with backoff delivers it later.

use crate::config::IngestConfig;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Throttle {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
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
        let rate = f64::from(config.events_per_second);
        let burst = f64::from(config.burst.max(config.events_per_second));
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
        };
        assert!(t.admit_at(&off, "a", 1_000_000, start).is_ok());
    }
}
