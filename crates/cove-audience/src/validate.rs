//! Checking an expression against what a population knows, so a console can warn before saving.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::expr::{Comparison, Expr, Value};
use crate::population::Population;

/// What kind of problem an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// No profile has ever had this tag (it evaluates to the empty set).
    UnknownTag,
    /// No profile has a value for this trait.
    UnknownTrait,
    /// A number compared with a trait that holds strings, or a string with one holding numbers.
    TypeMismatch,
    /// `<`, `<=`, `>` or `>=` used with a string: strings are only compared for equality.
    StringOrdering,
    /// `BETWEEN low AND high` with `low > high`, which matches nobody.
    EmptyRange,
}

/// A warning about an expression; evaluation still works and treats the part as matching nobody.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Issue {
    /// The kind of problem.
    pub kind: IssueKind,
    /// The tag or trait key concerned.
    pub subject: String,
    /// A sentence for the console.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn issue(kind: IssueKind, subject: &str, message: String) -> Issue {
    Issue {
        kind,
        subject: subject.to_owned(),
        message,
    }
}

impl Population {
    /// Lists problems in `expr`: unknown tags and traits, type mismatches, string ordering and
    /// empty ranges. Each distinct issue is listed once, in a stable order.
    pub fn validate(&self, expr: &Expr) -> Vec<Issue> {
        let mut found = BTreeSet::new();
        expr.walk(&mut |node| match node {
            Expr::Tag(name) if !self.tags.contains_key(name) => {
                found.insert(issue(
                    IssueKind::UnknownTag,
                    name,
                    format!("tag `{name}` is unknown: it matches no profile"),
                ));
            }
            Expr::Cmp(Comparison { key, op, value }) => {
                let numeric = self.numeric.contains_key(key);
                let text = self.categorical.contains_key(key);
                if !numeric && !text {
                    found.insert(unknown_trait(key));
                }
                match value {
                    Value::Str(_) if op.is_ordering() => {
                        found.insert(issue(
                            IssueKind::StringOrdering,
                            key,
                            format!(
                                "`{}` cannot compare strings; trait `{key}` needs `=` or `!=`",
                                op.symbol()
                            ),
                        ));
                    }
                    Value::Str(_) if numeric && !text => {
                        found.insert(issue(
                            IssueKind::TypeMismatch,
                            key,
                            format!("trait `{key}` holds numbers but is compared with a string"),
                        ));
                    }
                    Value::Int(_) if text && !numeric => {
                        found.insert(issue(
                            IssueKind::TypeMismatch,
                            key,
                            format!(
                                "trait `{key}` holds strings but is compared with a number; \
                                 quote the value"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
            Expr::Between(b) => {
                if !self.numeric.contains_key(&b.key) {
                    found.insert(if self.categorical.contains_key(&b.key) {
                        issue(
                            IssueKind::TypeMismatch,
                            &b.key,
                            format!("trait `{}` holds strings; BETWEEN needs numbers", b.key),
                        )
                    } else {
                        unknown_trait(&b.key)
                    });
                }
                if b.low > b.high {
                    found.insert(issue(
                        IssueKind::EmptyRange,
                        &b.key,
                        format!(
                            "`BETWEEN {} AND {}` on `{}` matches nobody: the low bound is above \
                             the high bound",
                            b.low, b.high, b.key
                        ),
                    ));
                }
            }
            Expr::IsSet(key)
                if !self.numeric.contains_key(key) && !self.categorical.contains_key(key) =>
            {
                found.insert(unknown_trait(key));
            }
            _ => {}
        });
        found.into_iter().collect()
    }
}

fn unknown_trait(key: &str) -> Issue {
    issue(
        IssueKind::UnknownTrait,
        key,
        format!("trait `{key}` is unknown: no profile has a value for it"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn reports_each_problem_once() {
        let mut p = Population::new();
        p.add_tag(1, "vip");
        p.set_number(1, "spend", 5);
        p.set_text(1, "city", "Shanghai");
        // The parser refuses `>` with a string, but a posted JSON tree can contain it.
        let parsed = parse(
            "tag:vip AND tag:ghost AND NOT tag:ghost AND trait:spend = \"x\" \
             AND trait:city = 3 AND trait:age IS SET AND trait:spend BETWEEN 9 AND 1",
        )
        .unwrap();
        let expr = Expr::And(vec![parsed, Expr::text("city", crate::CmpOp::Gt, "A")]);
        let kinds: Vec<(IssueKind, String)> = p
            .validate(&expr)
            .into_iter()
            .map(|i| (i.kind, i.subject))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (IssueKind::UnknownTag, "ghost".to_owned()),
                (IssueKind::UnknownTrait, "age".to_owned()),
                (IssueKind::TypeMismatch, "city".to_owned()),
                (IssueKind::TypeMismatch, "spend".to_owned()),
                (IssueKind::StringOrdering, "city".to_owned()),
                (IssueKind::EmptyRange, "spend".to_owned()),
            ]
        );
    }

    #[test]
    fn a_clean_expression_has_no_issues() {
        let mut p = Population::new();
        p.add_tag(1, "vip");
        p.set_number(1, "spend", 5);
        let expr = parse("tag:vip OR trait:spend >= 3 OR NOT ALL").unwrap();
        assert!(p.validate(&expr).is_empty());
    }
}
