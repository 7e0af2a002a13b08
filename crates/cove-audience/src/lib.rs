//! `cove-audience`: Cove's in-memory audience engine.
//!
//! A brand's profiles are dense `u32` ordinals assigned by the database. A [`Population`] holds,
//! as compressed (Roaring) bitmaps over those ordinals:
//!
//! - the **universe** of live profiles (deleted and merged-away ordinals removed);
//! - **tags**: tag key → bitmap of profiles carrying it;
//! - **numeric traits** as bit-sliced indexes ([`NumericColumn`]), answering `=`, `!=`, `<`,
//!   `<=`, `>`, `>=`, `BETWEEN` and `IS SET` directly as bitmaps;
//! - **categorical traits**: trait key → value → bitmap ([`CategoricalColumn`]).
//!
//! Audiences are boolean [`Expr`]essions, posted as JSON by the console builder or written in a
//! small textual syntax read by [`parse`]:
//!
//! ```
//! use cove_audience::{parse, Population, membership};
//!
//! let mut population = Population::new();
//! population.load_tag("gaming_laptop_viewer", [1, 2, 3, 4]);
//! population.load_tag("churn_risk", [2]);
//! population.load_numbers("total_spend_fen", [(1, 900_000), (2, 10_000), (3, 0)]);
//! population.load_texts("city", [(1, "Shanghai"), (2, "Shanghai"), (4, "Shanghai")]);
//!
//! let expr = parse(
//!     r#"tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk)
//!        AND trait:city = "Shanghai""#,
//! )
//! .unwrap();
//! assert!(population.validate(&expr).is_empty());
//! let members = population.evaluate(&expr);
//! assert_eq!(members.iter().collect::<Vec<_>>(), [1, 4]);
//!
//! population.add_tag(4, "churn_risk");
//! let change = membership::diff(&members, &population.evaluate(&expr));
//! assert_eq!(change.exited.iter().collect::<Vec<_>>(), [4]);
//! ```
//!
//! [`Engine`] shares a population between threads; [`membership`] has diffs (who entered and
//! who exited an audience), seeded samples and export batches; [`Population::write_snapshot`]
//! and [`encode_bitmap`] persist the indexes in roaring's portable format.

mod categorical;
mod engine;
mod eval;
mod expr;
pub mod membership;
mod numeric;
mod parse;
mod population;
mod snapshot;
mod validate;

pub use categorical::CategoricalColumn;
pub use engine::Engine;
pub use expr::{Between, CmpOp, Comparison, Expr, Value};
pub use membership::{diff, sample, Diff};
pub use numeric::NumericColumn;
pub use parse::{parse, ParseError};
pub use population::{MemoryReport, Population, Update};
pub use roaring::RoaringBitmap;
pub use snapshot::{decode_bitmap, encode_bitmap, SnapshotError};
pub use validate::{Issue, IssueKind};

impl std::str::FromStr for Expr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}
