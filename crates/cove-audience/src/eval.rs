//! Evaluating expressions against a population, as bitmaps or for one profile.

use std::borrow::Cow;

use roaring::{MultiOps, RoaringBitmap};

use crate::expr::{CmpOp, Comparison, Expr, Value};
use crate::population::Population;

impl Population {
    /// The live profiles matching `expr`.
    ///
    /// Unknown tags and traits match nobody (use [`Population::validate`] to report them);
    /// `NOT` is relative to the live universe.
    pub fn evaluate(&self, expr: &Expr) -> RoaringBitmap {
        self.eval(expr, None).into_owned()
    }

    /// The number of live profiles matching `expr`.
    ///
    /// When a top-level `AND` ends in a tag (or `NOT` tag), that operand is counted against the
    /// others with `intersection_len` / `difference_len`, so `tag:a AND tag:b` never builds a
    /// bitmap.
    pub fn count(&self, expr: &Expr) -> u64 {
        match expr {
            Expr::And(items) => match items.split_last() {
                Some((Expr::Tag(name), head)) if !head.is_empty() => self
                    .eval_and(head, None)
                    .intersection_len(self.tags.get(name).unwrap_or(&self.empty)),
                Some((Expr::Not(inner), head)) if !head.is_empty() && is_cheap(inner) => {
                    let acc = self.eval_and(head, None);
                    acc.difference_len(&self.eval(inner, Some(&acc)))
                }
                _ => self.eval(expr, None).len(),
            },
            Expr::Not(inner) => self.universe.difference_len(&self.eval(inner, None)),
            other => self.eval(other, None).len(),
        }
    }

    /// Whether one profile matches `expr`, answered with point lookups (no bitmap is built);
    /// this is what a journey step uses to re-check membership.
    pub fn matches(&self, expr: &Expr, ordinal: u32) -> bool {
        if !self.universe.contains(ordinal) {
            return false;
        }
        self.matches_live(expr, ordinal)
    }

    fn matches_live(&self, expr: &Expr, ordinal: u32) -> bool {
        match expr {
            Expr::All => true,
            Expr::Tag(name) => self.tags.get(name).is_some_and(|b| b.contains(ordinal)),
            Expr::Cmp(Comparison { key, op, value }) => match value {
                Value::Int(c) => self
                    .numeric
                    .get(key)
                    .and_then(|col| col.get(ordinal))
                    .is_some_and(|v| op.holds(&v, c)),
                Value::Str(c) => {
                    !op.is_ordering()
                        && self
                            .categorical
                            .get(key)
                            .and_then(|col| col.get(ordinal))
                            .is_some_and(|v| op.holds(v, c.as_str()))
                }
            },
            Expr::Between(b) => self
                .numeric
                .get(&b.key)
                .and_then(|col| col.get(ordinal))
                .is_some_and(|v| b.low <= v && v <= b.high),
            Expr::IsSet(key) => {
                self.numeric
                    .get(key)
                    .is_some_and(|c| c.present().contains(ordinal))
                    || self
                        .categorical
                        .get(key)
                        .is_some_and(|c| c.present().contains(ordinal))
            }
            Expr::And(items) => items.iter().all(|e| self.matches_live(e, ordinal)),
            Expr::Or(items) => items.iter().any(|e| self.matches_live(e, ordinal)),
            Expr::Not(inner) => !self.matches_live(inner, ordinal),
        }
    }

    /// Evaluates `expr`, borrowing stored bitmaps when an operand is used as is.
    ///
    /// `within` is a candidate set: the result `r` is only guaranteed to satisfy
    /// `r ∩ within = eval(expr) ∩ within` (it may hold extra profiles outside `within`). Numeric
    /// comparisons use it to walk their bit slices only for candidates; `AND` passes down what
    /// its cheaper operands have already narrowed the result to. With `None` the result is exact.
    fn eval<'a>(&'a self, expr: &Expr, within: Option<&RoaringBitmap>) -> Cow<'a, RoaringBitmap> {
        match expr {
            Expr::All => Cow::Borrowed(&self.universe),
            Expr::Tag(name) => Cow::Borrowed(self.tags.get(name).unwrap_or(&self.empty)),
            Expr::Cmp(c) => self.eval_cmp(c, within),
            Expr::Between(b) => Cow::Owned(
                self.numeric
                    .get(&b.key)
                    .map(|col| col.between_within(b.low, b.high, within))
                    .unwrap_or_default(),
            ),
            Expr::IsSet(key) => {
                let numeric = self.numeric.get(key).map(|c| c.present());
                let text = self.categorical.get(key).map(|c| c.present());
                match (numeric, text) {
                    (Some(n), Some(t)) => Cow::Owned(n | t),
                    (Some(one), None) | (None, Some(one)) => Cow::Borrowed(one),
                    (None, None) => Cow::Borrowed(&self.empty),
                }
            }
            Expr::And(items) => self.eval_and(items, within),
            Expr::Or(items) => match items.as_slice() {
                [] => Cow::Borrowed(&self.empty),
                [single] => self.eval(single, within),
                _ => {
                    let parts: Vec<Cow<'a, RoaringBitmap>> =
                        items.iter().map(|e| self.eval(e, within)).collect();
                    Cow::Owned(parts.iter().map(|p| p.as_ref()).union())
                }
            },
            Expr::Not(inner) => Cow::Owned(&self.universe - self.eval(inner, within).as_ref()),
        }
    }

    fn eval_cmp<'a>(
        &'a self,
        c: &Comparison,
        within: Option<&RoaringBitmap>,
    ) -> Cow<'a, RoaringBitmap> {
        match &c.value {
            Value::Int(n) => Cow::Owned(
                self.numeric
                    .get(&c.key)
                    .map(|col| col.compare_within(c.op, *n, within))
                    .unwrap_or_default(),
            ),
            Value::Str(s) => {
                let Some(column) = self.categorical.get(&c.key) else {
                    return Cow::Borrowed(&self.empty);
                };
                let equal = column.equal(s);
                match c.op {
                    CmpOp::Eq => Cow::Borrowed(equal.unwrap_or(&self.empty)),
                    CmpOp::Ne => match equal {
                        Some(eq) => Cow::Owned(column.present() - eq),
                        None => Cow::Borrowed(column.present()),
                    },
                    // Strings are not ordered; `validate` reports this.
                    _ => Cow::Borrowed(&self.empty),
                }
            }
        }
    }

    /// Intersection of `items`, planned for speed:
    ///
    /// 1. operands that are stored bitmaps or cheap combinations of them (tags, string
    ///    equality, `IS SET`) are intersected first, smallest first;
    /// 2. cheap `NOT x` operands are subtracted next (never complemented against the universe),
    ///    so that the numeric walks below see fewer candidates;
    /// 3. operands involving numeric comparisons are then evaluated only within what is left, so
    ///    a range on a trait costs in proportion to the candidates;
    /// 4. the remaining `NOT x` operands are subtracted;
    /// 5. work stops as soon as the result is empty.
    fn eval_and<'a>(
        &'a self,
        items: &[Expr],
        within: Option<&RoaringBitmap>,
    ) -> Cow<'a, RoaringBitmap> {
        let (negative, positive): (Vec<&Expr>, Vec<&Expr>) =
            items.iter().partition(|e| matches!(e, Expr::Not(_)));
        let (cheap, costly): (Vec<&Expr>, Vec<&Expr>) =
            positive.into_iter().partition(|e| is_cheap(e));
        let (cheap_negative, costly_negative): (Vec<&Expr>, Vec<&Expr>) =
            negative.into_iter().partition(|e| is_cheap(e));
        let mut parts: Vec<Cow<'a, RoaringBitmap>> =
            cheap.iter().map(|e| self.eval(e, within)).collect();
        parts.sort_by_key(|p| p.len());
        let mut parts = parts.into_iter();
        let mut costly = costly.into_iter();
        let first = match parts.next() {
            Some(first) => first,
            None => match costly.next() {
                Some(e) => self.eval(e, within),
                None => Cow::Borrowed(&self.universe),
            },
        };
        if parts.len() == 0
            && costly.len() == 0
            && cheap_negative.is_empty()
            && costly_negative.is_empty()
        {
            return first;
        }
        let mut acc = match parts.next() {
            Some(second) => first.as_ref() & second.as_ref(),
            None => first.into_owned(),
        };
        for part in parts {
            if acc.is_empty() {
                return Cow::Owned(acc);
            }
            acc &= part.as_ref();
        }
        self.subtract(&mut acc, &cheap_negative);
        for expr in costly {
            if acc.is_empty() {
                return Cow::Owned(acc);
            }
            let part = self.eval(expr, Some(&acc));
            acc &= part.as_ref();
        }
        self.subtract(&mut acc, &costly_negative);
        Cow::Owned(acc)
    }

    /// Removes from `acc` the profiles matching the inner expression of each `NOT` in `negative`.
    fn subtract(&self, acc: &mut RoaringBitmap, negative: &[&Expr]) {
        for expr in negative {
            if acc.is_empty() {
                return;
            }
            if let Expr::Not(inner) = expr {
                let part = self.eval(inner, Some(acc));
                *acc -= part.as_ref();
            }
        }
    }
}

/// Whether an expression is answered from stored bitmaps without walking numeric bit slices.
fn is_cheap(expr: &Expr) -> bool {
    match expr {
        Expr::All | Expr::Tag(_) | Expr::IsSet(_) => true,
        Expr::Cmp(c) => matches!(c.value, Value::Str(_)),
        Expr::Between(_) => false,
        Expr::And(items) | Expr::Or(items) => items.iter().all(is_cheap),
        Expr::Not(inner) => is_cheap(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// Ten profiles 0..10; 10 and 11 were live once and have been removed.
    fn population() -> Population {
        let mut p = Population::new();
        p.load_profiles(0..12);
        p.load_tag("laptop", [0, 1, 2, 3, 4, 10]);
        p.load_tag("churn", [3, 4, 5, 11]);
        p.load_numbers("spend", (0..12).map(|o| (o, i64::from(o) * 100_000)));
        p.load_texts(
            "city",
            [
                (0, "Shanghai"),
                (1, "Beijing"),
                (2, "Shanghai"),
                (5, "Shanghai"),
                (10, "Shanghai"),
            ],
        );
        p.remove_profile(10);
        p.remove_profile(11);
        p
    }

    fn ordinals(p: &Population, text: &str) -> Vec<u32> {
        let expr = parse(text).unwrap();
        let got: Vec<u32> = p.evaluate(&expr).iter().collect();
        assert_eq!(p.count(&expr), got.len() as u64, "count of {text}");
        for o in 0..12 {
            assert_eq!(p.matches(&expr, o), got.contains(&o), "{text} at {o}");
        }
        got
    }

    #[test]
    fn evaluates_the_console_example() {
        let p = population();
        let text = r#"tag:laptop AND (trait:spend >= 300000 OR NOT tag:churn) AND trait:city = "Shanghai""#;
        assert_eq!(ordinals(&p, text), [0, 2]);
    }

    #[test]
    fn not_is_relative_to_live_profiles() {
        let p = population();
        assert_eq!(ordinals(&p, "NOT tag:laptop"), [5, 6, 7, 8, 9]);
        assert_eq!(ordinals(&p, "NOT tag:unknown"), (0..10).collect::<Vec<_>>());
        assert_eq!(ordinals(&p, "NOT ALL"), Vec::<u32>::new());
        assert_eq!(ordinals(&p, "NOT NOT tag:churn"), [3, 4, 5]);
        assert_eq!(
            ordinals(&p, "NOT tag:churn AND NOT tag:laptop"),
            [6, 7, 8, 9]
        );
        // Removed profiles never come back through a complement.
        assert!(!ordinals(&p, "NOT (tag:laptop AND tag:churn)").contains(&10));
    }

    #[test]
    fn numeric_and_text_comparisons() {
        let p = population();
        assert_eq!(ordinals(&p, "trait:spend < 200000"), [0, 1]);
        assert_eq!(
            ordinals(&p, "trait:spend BETWEEN 200000 AND 400000"),
            [2, 3, 4]
        );
        assert_eq!(
            ordinals(&p, "trait:spend != 0 AND trait:spend <= 200000"),
            [1, 2]
        );
        assert_eq!(ordinals(&p, "trait:city != \"Shanghai\""), [1]);
        assert_eq!(ordinals(&p, "trait:city = \"Paris\""), Vec::<u32>::new());
        assert_eq!(ordinals(&p, "trait:city IS SET"), [0, 1, 2, 5]);
        assert_eq!(
            ordinals(&p, "trait:city IS NOT SET AND trait:spend > 700000"),
            [8, 9]
        );
        assert_eq!(ordinals(&p, "trait:city = 5"), Vec::<u32>::new());
        assert_eq!(ordinals(&p, "trait:spend = \"5\""), Vec::<u32>::new());
    }

    #[test]
    fn and_mixes_numeric_ranges_with_cheap_and_costly_negations() {
        let p = population();
        // Cheap NOTs are subtracted before the range is walked, costly ones after.
        assert_eq!(
            ordinals(
                &p,
                "trait:spend BETWEEN 100000 AND 800000 AND NOT tag:churn \
                 AND NOT trait:spend = 200000 AND tag:laptop"
            ),
            [1]
        );
        // Without a cheap positive operand the first range starts from everybody.
        assert_eq!(
            ordinals(
                &p,
                "trait:spend >= 300000 AND NOT tag:churn AND NOT trait:spend > 800000"
            ),
            [6, 7, 8]
        );
        assert_eq!(
            ordinals(
                &p,
                "NOT tag:churn AND NOT trait:city IS SET AND trait:spend < 700000"
            ),
            [6]
        );
    }

    #[test]
    fn unknown_tags_match_nobody() {
        let p = population();
        assert_eq!(ordinals(&p, "tag:nope"), Vec::<u32>::new());
        assert_eq!(ordinals(&p, "tag:nope OR tag:churn"), [3, 4, 5]);
        assert_eq!(ordinals(&p, "tag:nope AND ALL"), Vec::<u32>::new());
    }

    #[test]
    fn empty_lists_follow_the_identity_of_their_operator() {
        let p = population();
        assert_eq!(p.evaluate(&Expr::And(vec![])), *p.universe());
        assert!(p.evaluate(&Expr::Or(vec![])).is_empty());
        assert_eq!(p.count(&Expr::And(vec![])), 10);
    }
}
