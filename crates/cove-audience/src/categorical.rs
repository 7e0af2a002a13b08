//! Categorical (string) trait columns: one bitmap per distinct value.
//!
//! Equality is a bitmap lookup. To move a profile from its old value to a new one without
//! probing every value's bitmap, the column also keeps a dense array of value ids per ordinal
//! (4 bytes per profile), which is the same order of size as the bitmaps themselves.

use std::collections::HashMap;

use roaring::RoaringBitmap;

const UNSET: u32 = u32::MAX;

/// One categorical trait.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoricalColumn {
    ids: HashMap<String, u32>,
    values: Vec<String>,
    bitmaps: Vec<RoaringBitmap>,
    by_ordinal: Vec<u32>,
    present: RoaringBitmap,
}

impl CategoricalColumn {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.values.len()).unwrap_or(UNSET - 1);
        self.ids.insert(value.to_owned(), id);
        self.values.push(value.to_owned());
        self.bitmaps.push(RoaringBitmap::new());
        id
    }

    fn slot(&mut self, ordinal: u32) -> Option<&mut u32> {
        let index = usize::try_from(ordinal).ok()?;
        if index >= self.by_ordinal.len() {
            self.by_ordinal.resize(index + 1, UNSET);
        }
        self.by_ordinal.get_mut(index)
    }

    /// Sets (or replaces) the value of one profile.
    pub fn set(&mut self, ordinal: u32, value: &str) {
        let id = self.intern(value);
        let Some(slot) = self.slot(ordinal) else {
            return;
        };
        let old = std::mem::replace(slot, id);
        if old == id {
            return;
        }
        if let Some(bitmap) = self.bitmaps.get_mut(old as usize) {
            bitmap.remove(ordinal);
        }
        if let Some(bitmap) = self.bitmaps.get_mut(id as usize) {
            bitmap.insert(ordinal);
        }
        self.present.insert(ordinal);
    }

    /// Removes the value of one profile; returns whether it had one.
    pub fn clear(&mut self, ordinal: u32) -> bool {
        let Some(slot) = usize::try_from(ordinal)
            .ok()
            .and_then(|i| self.by_ordinal.get_mut(i))
        else {
            return false;
        };
        let old = std::mem::replace(slot, UNSET);
        if old == UNSET {
            return false;
        }
        if let Some(bitmap) = self.bitmaps.get_mut(old as usize) {
            bitmap.remove(ordinal);
        }
        self.present.remove(ordinal);
        true
    }

    /// The value of one profile, if set.
    pub fn get(&self, ordinal: u32) -> Option<&str> {
        let id = *self.by_ordinal.get(usize::try_from(ordinal).ok()?)?;
        self.values.get(id as usize).map(String::as_str)
    }

    /// Profiles whose value is exactly `value`, or `None` when no profile ever had it.
    pub fn equal(&self, value: &str) -> Option<&RoaringBitmap> {
        self.ids
            .get(value)
            .and_then(|id| self.bitmaps.get(*id as usize))
    }

    /// Profiles that have a value.
    pub fn present(&self) -> &RoaringBitmap {
        &self.present
    }

    /// The distinct values with the number of profiles holding each, most common first.
    pub fn value_counts(&self) -> Vec<(&str, u64)> {
        let mut counts: Vec<(&str, u64)> = self
            .values
            .iter()
            .zip(&self.bitmaps)
            .map(|(v, b)| (v.as_str(), b.len()))
            .filter(|(_, n)| *n > 0)
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        counts
    }

    /// `(value, bitmap)` pairs for every value held by at least one profile.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.values
            .iter()
            .zip(&self.bitmaps)
            .filter(|(_, b)| !b.is_empty())
            .map(|(v, b)| (v.as_str(), b))
    }

    /// Bytes used by this column's bitmaps in serialized form plus its per-ordinal array.
    pub fn memory_size(&self) -> usize {
        self.bitmaps
            .iter()
            .chain(std::iter::once(&self.present))
            .map(RoaringBitmap::serialized_size)
            .sum::<usize>()
            + self.by_ordinal.len() * std::mem::size_of::<u32>()
    }

    /// Drops the profiles in `removed` from the column.
    pub(crate) fn remove_all(&mut self, removed: &RoaringBitmap) {
        for ordinal in removed {
            self.clear(ordinal);
        }
    }

    /// Builds a column from one bitmap per value (as persisted); `None` if the bitmaps overlap.
    pub(crate) fn from_entries(entries: Vec<(String, RoaringBitmap)>) -> Option<Self> {
        let mut column = Self::new();
        for (value, bitmap) in entries {
            let id = column.intern(&value);
            for ordinal in &bitmap {
                let slot = column.slot(ordinal)?;
                if *slot != UNSET {
                    return None;
                }
                *slot = id;
            }
            column.present |= &bitmap;
            if let Some(target) = column.bitmaps.get_mut(id as usize) {
                *target |= bitmap;
            }
        }
        Some(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changing_a_value_moves_the_profile_between_bitmaps() {
        let mut column = CategoricalColumn::new();
        column.set(3, "Shanghai");
        column.set(4, "Shanghai");
        column.set(3, "Beijing");
        assert_eq!(column.equal("Shanghai").map(|b| b.len()), Some(1));
        assert_eq!(column.equal("Beijing").map(|b| b.len()), Some(1));
        assert_eq!(column.get(3), Some("Beijing"));
        assert!(column.equal("Shenzhen").is_none());
        assert!(column.clear(4));
        assert!(!column.clear(4));
        assert_eq!(column.value_counts(), vec![("Beijing", 1)]);
        assert_eq!(column.present().len(), 1);
    }
}
