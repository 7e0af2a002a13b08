//! Working with an evaluated audience: membership changes, samples and export batches.

use std::collections::HashSet;

use roaring::RoaringBitmap;

/// How an audience's membership changed between two evaluations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Profiles in the new membership but not the old one (journeys' "entered audience").
    pub entered: RoaringBitmap,
    /// Profiles in the old membership but not the new one (journeys' "exited audience").
    pub exited: RoaringBitmap,
}

impl Diff {
    /// Whether membership did not change.
    pub fn is_empty(&self) -> bool {
        self.entered.is_empty() && self.exited.is_empty()
    }
}

/// Who entered and who exited between `old` and `new` memberships.
pub fn diff(old: &RoaringBitmap, new: &RoaringBitmap) -> Diff {
    Diff {
        entered: new - old,
        exited: old - new,
    }
}

/// SplitMix64: a tiny, well-mixed generator, so samples are reproducible from a seed without
/// depending on a random-number crate's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=bound` (Lemire's multiply-shift; bias below 2^-32 for our bounds).
    fn up_to(&mut self, bound: u64) -> u64 {
        let span = u128::from(bound) + 1;
        u64::try_from((u128::from(self.next()) * span) >> 64).unwrap_or(bound)
    }
}

/// Up to `n` distinct members of `audience`, chosen uniformly and reproducibly from `seed`,
/// in ascending order. Returns every member when the audience has at most `n`.
///
/// Floyd's algorithm draws `n` distinct ranks, which are turned into ordinals with `select`,
/// so the cost depends on `n`, not on the audience size.
pub fn sample(audience: &RoaringBitmap, n: usize, seed: u64) -> Vec<u32> {
    let len = audience.len();
    let wanted = u64::try_from(n).unwrap_or(u64::MAX);
    if wanted >= len {
        return audience.iter().collect();
    }
    let mut rng = SplitMix64(seed);
    let mut ranks: HashSet<u64> = HashSet::with_capacity(n);
    for j in (len - wanted)..len {
        let t = rng.up_to(j);
        if !ranks.insert(t) {
            ranks.insert(j);
        }
    }
    let mut out: Vec<u32> = ranks
        .into_iter()
        .filter_map(|rank| u32::try_from(rank).ok().and_then(|r| audience.select(r)))
        .collect();
    out.sort_unstable();
    out
}

/// Iterates over an audience in ascending batches of at most `size` ordinals (at least 1), for
/// exports and for fanning out journey entries.
pub fn batches(audience: &RoaringBitmap, size: usize) -> impl Iterator<Item = Vec<u32>> + '_ {
    let size = size.max(1);
    let mut iter = audience.iter();
    std::iter::from_fn(move || {
        let batch: Vec<u32> = iter.by_ref().take(size).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_entered_and_exited() {
        let old: RoaringBitmap = [1, 2, 3, 4].into_iter().collect();
        let new: RoaringBitmap = [3, 4, 5].into_iter().collect();
        let d = diff(&old, &new);
        assert_eq!(d.entered.iter().collect::<Vec<_>>(), [5]);
        assert_eq!(d.exited.iter().collect::<Vec<_>>(), [1, 2]);
        assert!(!d.is_empty());
        assert!(diff(&new, &new).is_empty());
        // Applying the diff to the old membership gives the new one.
        assert_eq!(&(&old - &d.exited) | &d.entered, new);
    }

    #[test]
    fn sample_is_deterministic_distinct_and_drawn_from_the_audience() {
        let audience: RoaringBitmap = (0..100_000).filter(|o| o % 7 == 3).collect();
        let a = sample(&audience, 50, 42);
        let b = sample(&audience, 50, 42);
        let c = sample(&audience, 50, 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 50);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(a.iter().all(|o| audience.contains(*o)));
    }

    #[test]
    fn sample_returns_everyone_from_a_small_audience() {
        let audience: RoaringBitmap = [9, 4, 7].into_iter().collect();
        assert_eq!(sample(&audience, 10, 1), [4, 7, 9]);
        assert!(sample(&RoaringBitmap::new(), 3, 1).is_empty());
    }

    #[test]
    fn sample_covers_the_audience_roughly_uniformly() {
        // 1,000 draws of 10 from 100 members: each member expects 100 hits.
        let audience: RoaringBitmap = (0..100).collect();
        let mut hits = [0u32; 100];
        for seed in 0..1000 {
            for o in sample(&audience, 10, seed) {
                hits[o as usize] += 1;
            }
        }
        assert!(hits.iter().all(|h| (50..=160).contains(h)), "{hits:?}");
    }

    #[test]
    fn batches_cover_the_audience_in_order() {
        let audience: RoaringBitmap = (0..10).collect();
        let got: Vec<Vec<u32>> = batches(&audience, 4).collect();
        assert_eq!(got, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        assert_eq!(batches(&audience, 0).count(), 10);
    }
}
