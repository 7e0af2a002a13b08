//! The indexed population of one brand: live profiles, tags, numeric and categorical traits.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::categorical::CategoricalColumn;
use crate::numeric::NumericColumn;

/// All audience-relevant data for one brand, indexed by dense `u32` profile ordinals.
///
/// Invariant: every tag, trait and value bitmap is a subset of the universe of live profiles.
/// Setting any data on an ordinal makes it live; [`Population::remove_profile`] drops it from
/// everything. A trait key is expected to hold either numbers or strings; `IS SET` looks at both.
///
/// `Population` is a plain single-owner structure (`&mut self` to update). Share it between
/// threads through [`crate::Engine`].
#[derive(Debug, Clone, Default)]
pub struct Population {
    pub(crate) universe: RoaringBitmap,
    pub(crate) tags: HashMap<String, RoaringBitmap>,
    pub(crate) numeric: HashMap<String, NumericColumn>,
    pub(crate) categorical: HashMap<String, CategoricalColumn>,
    pub(crate) empty: RoaringBitmap,
}

/// One change to a population, in a form that can be queued or sent over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// Makes a profile live (it matches `ALL` and every `NOT`).
    AddProfile {
        /// The profile ordinal.
        ordinal: u32,
    },
    /// Deletes a profile (deleted or merged away) and all of its data.
    RemoveProfile {
        /// The profile ordinal.
        ordinal: u32,
    },
    /// Adds a tag to a profile.
    AddTag {
        /// The profile ordinal.
        ordinal: u32,
        /// The tag key.
        tag: String,
    },
    /// Removes a tag from a profile.
    RemoveTag {
        /// The profile ordinal.
        ordinal: u32,
        /// The tag key.
        tag: String,
    },
    /// Sets a numeric trait.
    SetNumber {
        /// The profile ordinal.
        ordinal: u32,
        /// The trait key.
        key: String,
        /// The new value.
        value: i64,
    },
    /// Sets a categorical trait.
    SetText {
        /// The profile ordinal.
        ordinal: u32,
        /// The trait key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Removes a trait value (numeric or categorical) from a profile.
    ClearTrait {
        /// The profile ordinal.
        ordinal: u32,
        /// The trait key.
        key: String,
    },
}

/// Approximate memory held by a population's indexes, in bytes.
///
/// Bitmap figures are roaring's serialized sizes, which track the in-memory container payloads
/// closely (allocator slack and per-container headers come on top).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemoryReport {
    /// The universe bitmap.
    pub universe: usize,
    /// All tag bitmaps.
    pub tags: usize,
    /// All numeric trait columns (presence bitmaps and bit slices).
    pub numeric: usize,
    /// All categorical trait columns (value bitmaps and per-ordinal value ids).
    pub categorical: usize,
}

impl MemoryReport {
    /// The sum of all parts.
    pub fn total(&self) -> usize {
        self.universe + self.tags + self.numeric + self.categorical
    }
}

/// Sorts, deduplicates and packs ordinals into a bitmap (much faster than inserting one by one).
pub(crate) fn bitmap_from_unsorted(ordinals: impl IntoIterator<Item = u32>) -> RoaringBitmap {
    let mut ordinals: Vec<u32> = ordinals.into_iter().collect();
    ordinals.sort_unstable();
    ordinals.dedup();
    RoaringBitmap::from_sorted_iter(ordinals.iter().copied())
        .unwrap_or_else(|_| ordinals.into_iter().collect())
}

impl Population {
    /// An empty population.
    pub fn new() -> Self {
        Self::default()
    }

    /// Live profiles.
    pub fn universe(&self) -> &RoaringBitmap {
        &self.universe
    }

    /// Number of live profiles.
    pub fn len(&self) -> u64 {
        self.universe.len()
    }

    /// Whether there is no live profile.
    pub fn is_empty(&self) -> bool {
        self.universe.is_empty()
    }

    /// Whether `ordinal` is live.
    pub fn is_live(&self, ordinal: u32) -> bool {
        self.universe.contains(ordinal)
    }

    /// The bitmap of a tag, if any profile ever had it.
    pub fn tag(&self, name: &str) -> Option<&RoaringBitmap> {
        self.tags.get(name)
    }

    /// Known tag keys, sorted.
    pub fn tag_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tags.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// A numeric trait column.
    pub fn numeric(&self, key: &str) -> Option<&NumericColumn> {
        self.numeric.get(key)
    }

    /// A categorical trait column.
    pub fn categorical(&self, key: &str) -> Option<&CategoricalColumn> {
        self.categorical.get(key)
    }

    /// Known trait keys (numeric and categorical), sorted.
    pub fn trait_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .numeric
            .keys()
            .chain(self.categorical.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Makes a profile live; returns whether it was not live before.
    pub fn add_profile(&mut self, ordinal: u32) -> bool {
        self.universe.insert(ordinal)
    }

    /// Deletes a profile and all of its tags and traits; returns whether it was live.
    ///
    /// Cost is one bitmap removal per tag and trait bit slice, a few microseconds per hundred
    /// tags. For many profiles at once use [`Population::remove_profiles`].
    pub fn remove_profile(&mut self, ordinal: u32) -> bool {
        if !self.universe.remove(ordinal) {
            return false;
        }
        for bitmap in self.tags.values_mut() {
            bitmap.remove(ordinal);
        }
        for column in self.numeric.values_mut() {
            column.clear(ordinal);
        }
        for column in self.categorical.values_mut() {
            column.clear(ordinal);
        }
        true
    }

    /// Deletes many profiles with one bitmap difference per index.
    pub fn remove_profiles(&mut self, ordinals: &RoaringBitmap) {
        self.universe -= ordinals;
        for bitmap in self.tags.values_mut() {
            *bitmap -= ordinals;
        }
        for column in self.numeric.values_mut() {
            column.remove_all(ordinals);
        }
        for column in self.categorical.values_mut() {
            column.remove_all(ordinals);
        }
    }

    /// Adds a tag to a profile (making it live); returns whether the tag was new for it.
    pub fn add_tag(&mut self, ordinal: u32, tag: &str) -> bool {
        self.universe.insert(ordinal);
        match self.tags.get_mut(tag) {
            Some(bitmap) => bitmap.insert(ordinal),
            None => {
                let mut bitmap = RoaringBitmap::new();
                bitmap.insert(ordinal);
                self.tags.insert(tag.to_owned(), bitmap);
                true
            }
        }
    }

    /// Removes a tag from a profile; returns whether the profile had it.
    ///
    /// The tag stays known (with a possibly empty bitmap) so expressions using it still
    /// validate; use [`Population::drop_tag`] to forget a tag.
    pub fn remove_tag(&mut self, ordinal: u32, tag: &str) -> bool {
        self.tags.get_mut(tag).is_some_and(|b| b.remove(ordinal))
    }

    /// Forgets a tag entirely; returns its bitmap.
    pub fn drop_tag(&mut self, tag: &str) -> Option<RoaringBitmap> {
        self.tags.remove(tag)
    }

    /// Declares a tag with no profiles yet, so that `validate` does not report it as unknown.
    pub fn define_tag(&mut self, tag: &str) {
        self.tags.entry(tag.to_owned()).or_default();
    }

    /// Sets a numeric trait (making the profile live).
    pub fn set_number(&mut self, ordinal: u32, key: &str, value: i64) {
        self.universe.insert(ordinal);
        match self.numeric.get_mut(key) {
            Some(column) => column.set(ordinal, value),
            None => {
                let mut column = NumericColumn::new();
                column.set(ordinal, value);
                self.numeric.insert(key.to_owned(), column);
            }
        }
    }

    /// Sets a categorical trait (making the profile live).
    pub fn set_text(&mut self, ordinal: u32, key: &str, value: &str) {
        self.universe.insert(ordinal);
        self.categorical
            .entry(key.to_owned())
            .or_default()
            .set(ordinal, value);
    }

    /// Removes a trait value, numeric or categorical; returns whether there was one.
    pub fn clear_trait(&mut self, ordinal: u32, key: &str) -> bool {
        let numeric = self.numeric.get_mut(key).is_some_and(|c| c.clear(ordinal));
        let text = self
            .categorical
            .get_mut(key)
            .is_some_and(|c| c.clear(ordinal));
        numeric || text
    }

    /// Applies one update.
    pub fn apply(&mut self, update: &Update) {
        match update {
            Update::AddProfile { ordinal } => {
                self.add_profile(*ordinal);
            }
            Update::RemoveProfile { ordinal } => {
                self.remove_profile(*ordinal);
            }
            Update::AddTag { ordinal, tag } => {
                self.add_tag(*ordinal, tag);
            }
            Update::RemoveTag { ordinal, tag } => {
                self.remove_tag(*ordinal, tag);
            }
            Update::SetNumber {
                ordinal,
                key,
                value,
            } => self.set_number(*ordinal, key, *value),
            Update::SetText {
                ordinal,
                key,
                value,
            } => self.set_text(*ordinal, key, value),
            Update::ClearTrait { ordinal, key } => {
                self.clear_trait(*ordinal, key);
            }
        }
    }

    /// Bulk-adds live profiles.
    pub fn load_profiles(&mut self, ordinals: impl IntoIterator<Item = u32>) {
        self.universe |= bitmap_from_unsorted(ordinals);
    }

    /// Bulk-adds a tag to many profiles (in any order), making them live.
    pub fn load_tag(&mut self, tag: &str, ordinals: impl IntoIterator<Item = u32>) {
        self.load_tag_bitmap(tag, bitmap_from_unsorted(ordinals));
    }

    /// Bulk-adds a tag from a ready bitmap (for example one read from storage).
    pub fn load_tag_bitmap(&mut self, tag: &str, bitmap: RoaringBitmap) {
        self.universe |= &bitmap;
        match self.tags.get_mut(tag) {
            Some(existing) => *existing |= bitmap,
            None => {
                self.tags.insert(tag.to_owned(), bitmap);
            }
        }
    }

    /// Bulk-loads a numeric trait from `(ordinal, value)` pairs, replacing the column.
    pub fn load_numbers(&mut self, key: &str, pairs: impl IntoIterator<Item = (u32, i64)>) {
        let column = NumericColumn::from_pairs(pairs);
        self.universe |= column.present();
        self.numeric.insert(key.to_owned(), column);
    }

    /// Bulk-loads a categorical trait from `(ordinal, value)` pairs, replacing the column.
    pub fn load_texts<S: AsRef<str>>(
        &mut self,
        key: &str,
        pairs: impl IntoIterator<Item = (u32, S)>,
    ) {
        let mut column = CategoricalColumn::new();
        for (ordinal, value) in pairs {
            column.set(ordinal, value.as_ref());
        }
        self.universe |= column.present();
        self.categorical.insert(key.to_owned(), column);
    }

    /// Memory held by the indexes.
    pub fn memory(&self) -> MemoryReport {
        MemoryReport {
            universe: self.universe.serialized_size(),
            tags: self.tags.values().map(RoaringBitmap::serialized_size).sum(),
            numeric: self
                .numeric
                .values()
                .map(NumericColumn::serialized_size)
                .sum(),
            categorical: self
                .categorical
                .values()
                .map(CategoricalColumn::memory_size)
                .sum(),
        }
    }

    /// Converts sparse-and-clustered containers to run-length form where smaller; worth calling
    /// once after a bulk load of tags that cover contiguous ordinal ranges.
    pub fn optimize(&mut self) {
        self.universe.optimize();
        for bitmap in self.tags.values_mut() {
            bitmap.optimize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_profile_removes_it_from_every_index() {
        let mut population = Population::new();
        population.add_tag(1, "vip");
        population.add_tag(2, "vip");
        population.set_number(1, "spend", 10);
        population.set_text(1, "city", "Shanghai");
        assert!(population.remove_profile(1));
        assert!(!population.remove_profile(1));
        assert!(!population.is_live(1));
        assert_eq!(population.tag("vip").map(|b| b.len()), Some(1));
        assert_eq!(population.numeric("spend").map(|c| c.get(1)), Some(None));
        assert_eq!(population.categorical("city").and_then(|c| c.get(1)), None);
    }

    #[test]
    fn bulk_removal_matches_single_removal() {
        let mut one_by_one = Population::new();
        one_by_one.load_tag("a", 0..1000);
        one_by_one.load_numbers("n", (0..1000).map(|o| (o, i64::from(o % 7))));
        one_by_one.load_texts(
            "c",
            (0..1000).map(|o| (o, if o % 2 == 0 { "x" } else { "y" })),
        );
        let mut bulk = one_by_one.clone();
        let removed: RoaringBitmap = (0..1000).filter(|o| o % 3 == 0).collect();
        for o in &removed {
            one_by_one.remove_profile(o);
        }
        bulk.remove_profiles(&removed);
        assert_eq!(one_by_one.universe(), bulk.universe());
        assert_eq!(one_by_one.tag("a"), bulk.tag("a"));
        assert_eq!(one_by_one.numeric("n"), bulk.numeric("n"));
        assert_eq!(one_by_one.categorical("c"), bulk.categorical("c"));
        assert_eq!(bulk.len(), 1000 - removed.len());
    }

    #[test]
    fn updates_round_trip_through_json_and_apply() {
        let json = r#"[
            {"kind": "add_tag", "ordinal": 4, "tag": "vip"},
            {"kind": "set_number", "ordinal": 4, "key": "spend", "value": -5},
            {"kind": "set_text", "ordinal": 5, "key": "city", "value": "Wuhan"},
            {"kind": "clear_trait", "ordinal": 4, "key": "spend"},
            {"kind": "add_profile", "ordinal": 9},
            {"kind": "remove_tag", "ordinal": 4, "tag": "vip"},
            {"kind": "remove_profile", "ordinal": 5}
        ]"#;
        let updates: Vec<Update> = serde_json::from_str(json).unwrap();
        let mut population = Population::new();
        for update in &updates {
            population.apply(update);
        }
        assert_eq!(population.universe().iter().collect::<Vec<_>>(), [4, 9]);
        assert_eq!(population.tag("vip").map(|b| b.len()), Some(0));
        assert_eq!(population.numeric("spend").and_then(|c| c.get(4)), None);
        assert_eq!(population.categorical("city").and_then(|c| c.get(5)), None);
    }
}
