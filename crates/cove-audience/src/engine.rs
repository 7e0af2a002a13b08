//! A population shared between threads.
//!
//! Concurrency model: one `Arc<RwLock<Population>>`. Audience evaluation is read-mostly and
//! takes milliseconds; updates arrive per event and take microseconds (a few bitmap inserts).
//! A reader-writer lock lets evaluations run in parallel and makes every update visible to the
//! next evaluation. A copy-on-write snapshot (`ArcSwap<Population>`) was rejected: each event
//! would have to clone megabytes of bitmaps. For a full rebuild (e.g. at start-up from the
//! database, or reading a snapshot), build a new [`Population`] without holding the lock and
//! install it with [`Engine::replace`], which blocks readers only for a pointer swap.
//!
//! A panic while holding the lock poisons it; the engine keeps serving the data as left by the
//! panicking writer (each single update leaves the indexes consistent, since they only become
//! inconsistent in between two bitmap operations of one `Population` call, which do not panic).

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use roaring::RoaringBitmap;

use crate::expr::Expr;
use crate::population::{Population, Update};
use crate::validate::Issue;

/// A cheaply clonable handle to a population shared between threads.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    inner: Arc<RwLock<Population>>,
}

impl Engine {
    /// An engine over an empty population.
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine over an existing population.
    pub fn from_population(population: Population) -> Self {
        Self {
            inner: Arc::new(RwLock::new(population)),
        }
    }

    /// Shared read access, for several operations against one consistent state.
    pub fn read(&self) -> RwLockReadGuard<'_, Population> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive write access, for several updates applied atomically.
    pub fn write(&self) -> RwLockWriteGuard<'_, Population> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Evaluates an expression (see [`Population::evaluate`]).
    pub fn evaluate(&self, expr: &Expr) -> RoaringBitmap {
        self.read().evaluate(expr)
    }

    /// Counts an expression's members (see [`Population::count`]).
    pub fn count(&self, expr: &Expr) -> u64 {
        self.read().count(expr)
    }

    /// Whether one profile matches (see [`Population::matches`]).
    pub fn matches(&self, expr: &Expr, ordinal: u32) -> bool {
        self.read().matches(expr, ordinal)
    }

    /// Lists problems in an expression (see [`Population::validate`]).
    pub fn validate(&self, expr: &Expr) -> Vec<Issue> {
        self.read().validate(expr)
    }

    /// Applies updates under one write lock, so readers see all of them or none.
    pub fn apply<'u>(&self, updates: impl IntoIterator<Item = &'u Update>) {
        let mut population = self.write();
        for update in updates {
            population.apply(update);
        }
    }

    /// Runs `f` with exclusive access and returns its result.
    pub fn update<R>(&self, f: impl FnOnce(&mut Population) -> R) -> R {
        f(&mut self.write())
    }

    /// Installs a population built elsewhere and returns the previous one.
    pub fn replace(&self, population: Population) -> Population {
        std::mem::replace(&mut *self.write(), population)
    }

    /// A point-in-time copy of the population (clones every bitmap).
    pub fn snapshot(&self) -> Population {
        self.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::membership::diff;
    use crate::parse;

    #[test]
    fn updates_from_one_thread_are_seen_by_readers_on_others() {
        let engine = Engine::new();
        let expr = parse("tag:vip AND NOT tag:churn").unwrap();
        let writer = {
            let engine = engine.clone();
            thread::spawn(move || {
                for ordinal in 0..1000u32 {
                    let mut updates = vec![Update::AddTag {
                        ordinal,
                        tag: "vip".to_owned(),
                    }];
                    if ordinal % 4 == 0 {
                        updates.push(Update::AddTag {
                            ordinal,
                            tag: "churn".to_owned(),
                        });
                    }
                    engine.apply(&updates);
                }
            })
        };
        let reader = {
            let engine = engine.clone();
            let expr = expr.clone();
            thread::spawn(move || {
                // Each batch is atomic: a reader never sees a churned profile without its churn
                // tag, so the count is always the number of live profiles minus the churned.
                for _ in 0..200 {
                    let population = engine.read();
                    let churned = population.tag("churn").map_or(0, |b| b.len());
                    assert_eq!(population.count(&expr), population.len() - churned);
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(engine.count(&expr), 750);
    }

    #[test]
    fn replace_swaps_in_a_rebuilt_population_and_diff_shows_the_change() {
        let engine = Engine::new();
        engine.update(|p| p.load_tag("vip", 0..10));
        let expr = parse("tag:vip").unwrap();
        let before = engine.evaluate(&expr);
        let mut rebuilt = Population::new();
        rebuilt.load_tag("vip", 5..15);
        let old = engine.replace(rebuilt);
        assert_eq!(old.len(), 10);
        let change = diff(&before, &engine.evaluate(&expr));
        assert_eq!(
            change.entered.iter().collect::<Vec<_>>(),
            (10..15).collect::<Vec<_>>()
        );
        assert_eq!(
            change.exited.iter().collect::<Vec<_>>(),
            (0..5).collect::<Vec<_>>()
        );
        assert!(engine.matches(&expr, 12));
        assert!(engine.validate(&parse("tag:gone").unwrap()).len() == 1);
        assert_eq!(engine.snapshot().len(), 10);
    }
}
