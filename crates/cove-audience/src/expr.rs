//! The audience expression tree, its JSON form and its textual form.
//!
//! JSON (what a console builder posts) uses serde's externally tagged layout:
//!
//! ```json
//! {"and": [
//!   {"tag": "gaming_laptop_viewer"},
//!   {"or": [
//!     {"cmp": {"trait": "total_spend_fen", "op": ">=", "value": 500000}},
//!     {"not": {"tag": "churn_risk"}}
//!   ]},
//!   {"cmp": {"trait": "city", "op": "=", "value": "Shanghai"}}
//! ]}
//! ```
//!
//! The textual form is produced by [`Expr`]'s `Display` and read back by [`crate::parse`]:
//! `tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk) AND
//! trait:city = "Shanghai"`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A boolean audience expression over tags and traits.
///
/// Every expression denotes a set of live profiles; `Not` is the complement relative to the live
/// universe, so an expression never selects a deleted or merged-away profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// Every live profile.
    All,
    /// Profiles carrying the tag. An unknown tag denotes the empty set (see `validate`).
    Tag(String),
    /// A comparison of a trait with a constant.
    Cmp(Comparison),
    /// An inclusive numeric range on a trait: `low <= value <= high`.
    Between(Between),
    /// Profiles that have any value for the trait.
    IsSet(String),
    /// Intersection. An empty list denotes every live profile.
    And(Vec<Expr>),
    /// Union. An empty list denotes no profile.
    Or(Vec<Expr>),
    /// Complement relative to the live universe.
    Not(Box<Expr>),
}

/// `trait op value`, for example `total_spend_fen >= 500000` or `city = "Shanghai"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The trait key.
    #[serde(rename = "trait")]
    pub key: String,
    /// The comparison operator.
    pub op: CmpOp,
    /// The constant compared with.
    pub value: Value,
}

/// `trait BETWEEN low AND high`, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Between {
    /// The trait key.
    #[serde(rename = "trait")]
    pub key: String,
    /// The smallest value included.
    pub low: i64,
    /// The largest value included.
    pub high: i64,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=`: the trait is set and differs from the constant.
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    /// Every operator.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// The operator as written in the textual syntax.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator orders values (only numbers can be ordered).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    /// Applies the operator to two ordered values.
    pub fn holds<T: Ord + ?Sized>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }
}

/// A constant in a comparison: an integer (numeric traits) or a string (categorical traits).
///
/// Decimal quantities are stored scaled to integers (money in fen, ratings in tenths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A numeric constant.
    Int(i64),
    /// A categorical constant.
    Str(String),
}

impl Expr {
    /// `tag:name`.
    pub fn tag(name: impl Into<String>) -> Self {
        Expr::Tag(name.into())
    }

    /// `trait:key op value` with a numeric constant.
    pub fn num(key: impl Into<String>, op: CmpOp, value: i64) -> Self {
        Expr::Cmp(Comparison {
            key: key.into(),
            op,
            value: Value::Int(value),
        })
    }

    /// `trait:key op "value"` with a string constant.
    pub fn text(key: impl Into<String>, op: CmpOp, value: impl Into<String>) -> Self {
        Expr::Cmp(Comparison {
            key: key.into(),
            op,
            value: Value::Str(value.into()),
        })
    }

    /// `trait:key BETWEEN low AND high`.
    pub fn between(key: impl Into<String>, low: i64, high: i64) -> Self {
        Expr::Between(Between {
            key: key.into(),
            low,
            high,
        })
    }

    /// `trait:key IS SET`.
    pub fn is_set(key: impl Into<String>) -> Self {
        Expr::IsSet(key.into())
    }

    /// `NOT self`.
    pub fn negate(self) -> Self {
        Expr::Not(Box::new(self))
    }

    /// Calls `visit` on this node and every node below it, parents first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr)) {
        visit(self);
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.walk(visit)),
            Expr::Not(inner) => inner.walk(visit),
            Expr::All | Expr::Tag(_) | Expr::Cmp(_) | Expr::Between(_) | Expr::IsSet(_) => {}
        }
    }
}

/// Binding strength used to decide where `Display` needs parentheses.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Or(items) if items.len() >= 2 => 1,
        Expr::And(items) if items.len() >= 2 => 2,
        _ => 3,
    }
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if crate::parse::is_plain_name(name) {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[Expr], word: &str, level: u8) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            write!(f, " {word} ")?;
        }
        // Operands of equal precedence are parenthesised too, so that the printed tree parses
        // back to exactly the same shape.
        if precedence(item) <= level {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("ALL"),
            Expr::Tag(name) => {
                f.write_str("tag:")?;
                write_name(f, name)
            }
            Expr::Cmp(c) => {
                f.write_str("trait:")?;
                write_name(f, &c.key)?;
                write!(f, " {} ", c.op.symbol())?;
                match &c.value {
                    Value::Int(n) => write!(f, "{n}"),
                    Value::Str(s) => write_quoted(f, s),
                }
            }
            Expr::Between(b) => {
                f.write_str("trait:")?;
                write_name(f, &b.key)?;
                write!(f, " BETWEEN {} AND {}", b.low, b.high)
            }
            Expr::IsSet(key) => {
                f.write_str("trait:")?;
                write_name(f, key)?;
                f.write_str(" IS SET")
            }
            // Zero- and one-item lists have no infix form.
            Expr::And(items) if items.is_empty() => f.write_str("ALL"),
            Expr::Or(items) if items.is_empty() => f.write_str("NOT ALL"),
            Expr::And(items) | Expr::Or(items) if items.len() == 1 => {
                write!(f, "(")?;
                write_joined(f, items, "", 0)?;
                write!(f, ")")
            }
            Expr::And(items) => write_joined(f, items, "AND", 2),
            Expr::Or(items) => write_joined(f, items, "OR", 1),
            Expr::Not(inner) => {
                if precedence(inner) < 3 {
                    write!(f, "NOT ({inner})")
                } else {
                    write!(f, "NOT {inner}")
                }
            }
        }
    }
}
