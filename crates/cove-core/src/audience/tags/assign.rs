//! Tags given by people: manual assignment and removal, and CSV import.
//! Each change is audited and emits `tag.added` / `tag.removed` in the same
//! transaction. Assigning what is already there changes nothing, so a
//! repeated request or a re-imported file is harmless.

use super::compute::{add, remove};
use super::{get, Tag};
use crate::audience::domain::profile_for;
use crate::audience::identity::Identifier;
use crate::audience::profiles::surviving_id;
use crate::audit::{self, Actor};
use crate::clock;
use crate::db::{new_id, Conn, Db};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// Most lines one import may hold.
pub const MAX_IMPORT_LINES: usize = 50_000;

async fn adjust_count(conn: &mut Conn, tag: &Tag, delta: i64) -> Result<()> {
    sqlx::query("UPDATE tags SET member_count = member_count + $1, members_version = members_version + 1 WHERE id = $2")
        .bind(delta)
        .bind(&tag.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Gives tag `key` to profile `profile_id` (or its survivor). False when it already had it.
pub async fn assign(db: &Db, actor: &Actor, key: &str, profile_id: &str) -> Result<bool> {
    let tag = get(db, key).await?;
    let profile = surviving_id(db, profile_id).await?;
    let now = clock::now();
    let mut tx = db.begin().await?;
    let added = add(
        &mut tx,
        &tag,
        &profile,
        "manual",
        &format!("m{}", new_id()),
        now,
    )
    .await?;
    if added {
        adjust_count(&mut tx, &tag, 1).await?;
        audit::record(
            &mut tx,
            actor,
            "tag.assign",
            "profile",
            Some(&profile),
            json!({"tag": tag.key}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// Takes tag `key` from a profile, however it was given. False when it did not have it.
/// A rule tag given back by its rule returns at the next computation.
pub async fn unassign(db: &Db, actor: &Actor, key: &str, profile_id: &str) -> Result<bool> {
    let tag = get(db, key).await?;
    let profile = surviving_id(db, profile_id).await?;
    let now = clock::now();
    let mut tx = db.begin().await?;
    let removed = remove(
        &mut tx,
        &tag,
        &profile,
        None,
        &format!("m{}", new_id()),
        now,
    )
    .await?;
    if removed {
        adjust_count(&mut tx, &tag, -1).await?;
        audit::record(
            &mut tx,
            actor,
            "tag.unassign",
            "profile",
            Some(&profile),
            json!({"tag": tag.key}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Data lines read.
    pub lines: usize,
    /// Tags given now.
    pub assigned: usize,
    /// Lines whose profile already had the tag.
    pub unchanged: usize,
    /// Profiles created for identifiers Cove had not seen.
    pub new_profiles: usize,
}

/// Reads `identity,tag` lines (identity as `type:value`; a header line
/// `identity,tag` is optional). Any bad line refuses the whole file.
pub fn parse_csv(text: &str) -> Result<Vec<(Identifier, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record =
            record.map_err(|e| Error::invalid("invalid_csv", format!("line {line}: {e}")))?;
        let fields: Vec<&str> = record.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if line == 1
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("identity"))
        {
            continue;
        }
        if fields.len() != 2 {
            problems.push(format!(
                "line {line}: expected 2 fields (identity,tag), found {}",
                fields.len()
            ));
            continue;
        }
        match Identifier::parse(fields[0]) {
            Ok(id) => out.push((id, fields[1].to_owned())),
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
        if out.len() > MAX_IMPORT_LINES {
            return Err(Error::invalid(
                "import_too_large",
                format!("an import holds at most {MAX_IMPORT_LINES} lines"),
            ));
        }
    }
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(Error::invalid("invalid_csv", problems.join("; ")));
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "empty_import",
            "the file has no identity,tag lines",
        ));
    }
    Ok(out)
}

/// Imports a CSV file in one transaction: all lines apply, or none.
pub async fn import_csv(db: &Db, actor: &Actor, text: &str) -> Result<ImportReport> {
    let rows = parse_csv(text)?;
    let mut tags: HashMap<String, Tag> = HashMap::new();
    let mut unknown: Vec<String> = Vec::new();
    for (_, key) in &rows {
        if tags.contains_key(key) || unknown.contains(key) {
            continue;
        }
        match get(db, key).await {
            Ok(tag) => {
                tags.insert(key.clone(), tag);
            }
            Err(Error::NotFound(_)) => unknown.push(key.clone()),
            Err(e) => return Err(e),
        }
    }
    if !unknown.is_empty() {
        unknown.truncate(20);
        return Err(Error::invalid(
            "unknown_tag",
            format!(
                "no tag with key {}; create the tags first",
                unknown.join(", ")
            ),
        ));
    }
    let now = clock::now();
    let import_id = new_id();
    let mut report = ImportReport {
        lines: rows.len(),
        ..ImportReport::default()
    };
    let mut added_per_tag: HashMap<&str, i64> = HashMap::new();
    let mut tx = db.begin().await?;
    for (line, (id, key)) in rows.iter().enumerate() {
        let known: Option<String> =
            sqlx::query_scalar("SELECT profile_id FROM identities WHERE type = $1 AND value = $2")
                .bind(id.key())
                .bind(&id.value)
                .fetch_optional(&mut *tx)
                .await?;
        let profile = match known {
            Some(p) => {
                sqlx::query_scalar::<_, String>(
                    "SELECT COALESCE(merged_into, id) FROM profiles WHERE id = $1",
                )
                .bind(&p)
                .fetch_one(&mut *tx)
                .await?
            }
            None => {
                report.new_profiles += 1;
                profile_for(
                    &mut tx,
                    db.backend(),
                    std::slice::from_ref(id),
                    &format!("tag.import:{import_id}:{line}"),
                    now,
                )
                .await?
            }
        };
        let Some(tag) = tags.get(key) else { continue };
        if add(
            &mut tx,
            tag,
            &profile,
            "import",
            &format!("i{import_id}"),
            now,
        )
        .await?
        {
            report.assigned += 1;
            *added_per_tag.entry(tag.id.as_str()).or_default() += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for (tag_id, n) in added_per_tag {
        sqlx::query("UPDATE tags SET member_count = member_count + $1, members_version = members_version + 1 WHERE id = $2")
            .bind(n)
            .bind(tag_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        actor,
        "tag.import",
        "tag",
        None,
        json!({"import": import_id, "lines": report.lines, "assigned": report.assigned,
               "unchanged": report.unchanged, "new_profiles": report.new_profiles}),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_are_read_strictly() {
        let rows = parse_csv("identity,tag\nphone:13912340001, vip\n\nuser_id:u-9,vip\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0.key(), "phone");
        assert_eq!(rows[1].1, "vip");
        let err = parse_csv("phone:13912340001\nnot-an-identity,vip\n").unwrap_err();
        assert_eq!(err.code(), "invalid_csv");
        assert!(
            err.to_string().contains("line 1") && err.to_string().contains("line 2"),
            "{err}"
        );
        assert_eq!(
            parse_csv("identity,tag\n").unwrap_err().code(),
            "empty_import"
        );
    }
}
