//! Factory import of devices: CSV or JSON rows, idempotent (importing the same
//! rows again changes nothing), fast (multi-row inserts in chunks inside a
//! transaction), with a per-row error report. By default an import is all or
//! nothing; with `partial` the good rows land and the bad ones are reported.

use super::entitlements::{add_months, Kind, Origin};
use super::policy::{self, Policy, StartFrom};
use super::tag::ServiceTag;
use crate::clock::{self, Micros, DAY};
use crate::db::{bind_error, new_id, push_placeholder, Backend, Db, Multi, Tx};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};
use std::collections::{HashMap, HashSet};

/// Sales channels a device can ship through.
pub const SALES_CHANNELS: &[&str] = &[
    "direct",
    "retail",
    "reseller",
    "marketplace",
    "enterprise",
    "carrier",
];

/// Rows per multi-row statement (8 binds each, far below both databases' limits).
const CHUNK: usize = 1_000;
/// Rows per transaction in a partial import (an all-or-nothing import is one).
const PARTIAL_COMMIT_EVERY: usize = 50_000;

/// One line of a factory file, as sent (columns of the CSV header).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ImportRow {
    pub service_tag: String,
    /// The product code of the model (`products.code`).
    pub model: String,
    pub serial: String,
    /// `YYYY-MM-DD` (UTC) or RFC 3339.
    pub shipped_on: String,
    pub sales_channel: String,
    /// ISO 3166-1 alpha-2 country of sale, e.g. `CN`.
    pub region: String,
}

/// A validated device ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub tag: ServiceTag,
    pub product_id: String,
    pub serial: String,
    pub shipped_at: Micros,
    pub sales_channel: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based row number among the data rows (the CSV header is not counted).
    pub row: usize,
    pub service_tag: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    /// New devices registered.
    pub inserted: usize,
    /// Rows identical to a device already registered.
    pub unchanged: usize,
    /// Rows refused; in an all-or-nothing import, any error means nothing landed.
    pub rejected: usize,
    /// Whether the good rows were written.
    pub committed: bool,
    pub errors: Vec<RowError>,
}

/// Errors listed in a report; the count in `rejected` stays exact beyond it.
const MAX_REPORTED_ERRORS: usize = 1_000;

impl ImportReport {
    fn error(&mut self, row: usize, tag: Option<&str>, e: &Error) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError {
                row,
                service_tag: tag.map(str::to_owned),
                code: e.code().into_owned(),
                message: e.to_string(),
            });
        }
    }
}

/// Rows numbered for the error report (1-based among data rows).
pub type NumberedRows = Vec<(usize, ImportRow)>;

/// Parses a factory CSV (header `service_tag,model,serial,shipped_on,sales_channel,region`).
/// Rows that cannot be read are reported with their row number.
pub fn parse_csv(data: &[u8]) -> Result<(NumberedRows, Vec<RowError>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(data);
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid("invalid_csv", format!("cannot read the CSV header: {e}")))?
        .clone();
    for needed in [
        "service_tag",
        "model",
        "serial",
        "shipped_on",
        "sales_channel",
        "region",
    ] {
        if !headers.iter().any(|h| h == needed) {
            return Err(Error::invalid(
                "invalid_csv",
                format!("the CSV header lacks the column {needed:?}"),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let n = i + 1;
        match record.and_then(|r| r.deserialize::<ImportRow>(Some(&headers))) {
            Ok(row) => rows.push((n, row)),
            Err(e) => errors.push(RowError {
                row: n,
                service_tag: None,
                code: "invalid_csv_row".into(),
                message: e.to_string(),
            }),
        }
    }
    Ok((rows, errors))
}

/// Parses a ship date: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_date(s: &str) -> Result<Micros> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_micros())
        .map_err(|_| Error::invalid("invalid_date", format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// Checks one row against the catalog (`models`: product code → id).
pub fn validate(
    row: &ImportRow,
    models: &HashMap<String, String>,
    now: Micros,
) -> Result<NewDevice> {
    let tag = ServiceTag::parse(&row.service_tag)?;
    let product_id = models.get(row.model.trim()).cloned().ok_or_else(|| {
        Error::invalid("unknown_model", format!("no device model {:?}", row.model))
    })?;
    let serial = row.serial.trim();
    if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "invalid_serial",
            "a serial is 1–64 printable ASCII characters without spaces",
        ));
    }
    let shipped_at = parse_date(&row.shipped_on)?;
    if shipped_at > now + DAY || shipped_at < 946_684_800_000_000 {
        return Err(Error::invalid(
            "invalid_ship_date",
            "the ship date must be between 2000-01-01 and today",
        ));
    }
    let channel = row.sales_channel.trim().to_ascii_lowercase();
    if !SALES_CHANNELS.contains(&channel.as_str()) {
        return Err(Error::invalid(
            "invalid_sales_channel",
            format!("sales channel must be one of {}", SALES_CHANNELS.join(", ")),
        ));
    }
    let region = row.region.trim().to_ascii_uppercase();
    if region.len() != 2 || !region.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::invalid(
            "invalid_region",
            "region is an ISO 3166-1 alpha-2 country code, e.g. CN",
        ));
    }
    Ok(NewDevice {
        tag,
        product_id,
        serial: serial.to_owned(),
        shipped_at,
        sales_channel: channel,
        region,
    })
}

/// Device models of the catalog: product code → product id.
pub async fn models(db: &Db) -> Result<HashMap<String, String>> {
    let rows = sqlx::query("SELECT code, id FROM products WHERE kind = 'device'")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect()
}

/// Imports `rows` (numbered as the caller wants them reported).
pub async fn import(db: &Db, rows: NumberedRows, partial: bool) -> Result<ImportReport> {
    import_with(db, rows, Vec::new(), partial).await
}

/// Imports `rows`, counting `parse_errors` (rows that could not even be read).
pub async fn import_with(
    db: &Db,
    rows: NumberedRows,
    parse_errors: Vec<RowError>,
    partial: bool,
) -> Result<ImportReport> {
    let now = clock::now();
    let models = models(db).await?;
    let mut report = ImportReport {
        rows: rows.len() + parse_errors.len(),
        rejected: parse_errors.len(),
        errors: parse_errors,
        ..Default::default()
    };
    report.errors.truncate(MAX_REPORTED_ERRORS);

    // Validate everything first, and refuse the same tag or serial twice in one file.
    let mut seen_tags: HashMap<ServiceTag, NewDevice> = HashMap::with_capacity(rows.len());
    let mut seen_serials: HashSet<String> = HashSet::with_capacity(rows.len());
    let mut good: Vec<(usize, NewDevice)> = Vec::with_capacity(rows.len());
    for (n, row) in rows {
        match validate(&row, &models, now) {
            Ok(device) => {
                if let Some(first) = seen_tags.get(&device.tag) {
                    if *first != device {
                        let e = Error::invalid(
                            "duplicate_in_file",
                            "the file lists this service tag twice with different data",
                        );
                        report.error(n, Some(device.tag.as_str()), &e);
                    } else {
                        report.unchanged += 1;
                    }
                    continue;
                }
                if !seen_serials.insert(device.serial.clone()) {
                    let e = Error::invalid("duplicate_in_file", "the file lists this serial twice");
                    report.error(n, Some(device.tag.as_str()), &e);
                    continue;
                }
                seen_tags.insert(device.tag.clone(), device.clone());
                good.push((n, device));
            }
            Err(e) => report.error(n, Some(row.service_tag.trim()), &e),
        }
    }
    if report.rejected > 0 && !partial {
        return Ok(report);
    }
    let policies = policy::all(db).await?;
    // Inserting in key order keeps B-tree writes local: random-order keys
    // touch a random index page per row once the table outgrows the cache.
    good.sort_unstable_by(|a, b| a.1.tag.cmp(&b.1.tag));

    let mut tx = db.begin().await?;
    let mut since_commit = 0;
    for chunk in good.chunks(CHUNK) {
        write_chunk(db.backend(), &mut tx, chunk, &policies, now, &mut report).await?;
        since_commit += chunk.len();
        if partial && since_commit >= PARTIAL_COMMIT_EVERY {
            tx.commit().await?;
            tx = db.begin().await?;
            since_commit = 0;
        }
    }
    report.errors.sort_by_key(|e| e.row);
    if report.rejected > 0 && !partial {
        tx.rollback().await?;
        report.inserted = 0;
        report.unchanged = 0;
        return Ok(report);
    }
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

async fn write_chunk(
    backend: Backend,
    tx: &mut Tx,
    chunk: &[(usize, NewDevice)],
    policies: &HashMap<String, Policy>,
    now: Micros,
    report: &mut ImportReport,
) -> Result<()> {
    let mut insert = Multi::new(
        backend,
        "INSERT INTO devices (service_tag, product_id, serial, shipped_at, warranty_ends_at, \
         sales_channel, region, imported_at) VALUES ",
    );
    for (_, d) in chunk {
        let policy = policy::for_product(policies, &d.product_id);
        let warranty_ends_at = match policy.start_from {
            StartFrom::Ship => add_months(d.shipped_at, policy.base_months)?,
            // No cover is counted until the owner activates.
            StartFrom::Activation => d.shipped_at,
        };
        insert.row(|r| {
            r.bind(d.tag.as_str().to_owned())
                .bind(d.product_id.clone())
                .bind(d.serial.clone())
                .bind(d.shipped_at)
                .bind(warranty_ends_at)
                .bind(d.sales_channel.clone())
                .bind(d.region.clone())
                .bind(now);
        });
    }
    let inserted = insert.execute(tx, " ON CONFLICT DO NOTHING").await? as usize;

    // Every row is new in a first import; otherwise compare with what is stored.
    let landed: Vec<&NewDevice> = if inserted == chunk.len() {
        chunk.iter().map(|(_, d)| d).collect()
    } else {
        let stored = stored(backend, tx, chunk).await?;
        let mut landed = Vec::with_capacity(chunk.len());
        for (n, d) in chunk {
            match stored.get(d.tag.as_str()) {
                Some(s) if s == d => landed.push(d),
                Some(_) => report.error(
                    *n,
                    Some(d.tag.as_str()),
                    &Error::conflict(
                        "service_tag_conflict",
                        "a device with this service tag is registered with different data",
                    ),
                ),
                None => report.error(
                    *n,
                    Some(d.tag.as_str()),
                    &Error::conflict(
                        "serial_conflict",
                        "another device is registered with this serial",
                    ),
                ),
            }
        }
        report.unchanged += landed.len() - inserted;
        landed
    };
    report.inserted += inserted;

    // The factory warranty of ship-date policies; keyed so a re-import adds nothing.
    let mut base = Multi::new(
        backend,
        "INSERT INTO device_entitlements (id, service_tag, kind, service_level, starts_at, ends_at, \
         origin, reference, created_at) VALUES ",
    );
    for d in landed {
        let policy = policy::for_product(policies, &d.product_id);
        if policy.start_from != StartFrom::Ship {
            continue;
        }
        let ends_at = add_months(d.shipped_at, policy.base_months)?;
        base.row(|r| {
            r.bind(new_id())
                .bind(d.tag.as_str().to_owned())
                .bind(Kind::Base.as_str())
                .bind(policy.service_level.clone())
                .bind(d.shipped_at)
                .bind(ends_at)
                .bind(Origin::Shipped.as_str())
                .bind(BASE_REFERENCE)
                .bind(now);
        });
    }
    base.execute(tx, " ON CONFLICT DO NOTHING").await?;
    Ok(())
}

/// The reference of the factory warranty entitlement.
pub const BASE_REFERENCE: &str = "factory";

async fn stored(
    backend: Backend,
    tx: &mut Tx,
    chunk: &[(usize, NewDevice)],
) -> Result<HashMap<String, NewDevice>> {
    let mut sql = String::from(
        "SELECT service_tag, product_id, COALESCE(serial, ''), shipped_at, sales_channel, region \
         FROM devices WHERE service_tag IN (",
    );
    let mut args = AnyArguments::default();
    for (i, (_, d)) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        args.add(d.tag.as_str().to_owned()).map_err(bind_error)?;
        push_placeholder(backend, &mut sql, i + 1);
    }
    sql.push(')');
    let rows = sqlx::query_with(&sql, args).fetch_all(&mut **tx).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let tag: String = r.try_get(0)?;
        out.insert(
            tag.clone(),
            NewDevice {
                tag: ServiceTag::parse(&tag)?,
                product_id: r.try_get(1)?,
                serial: r.try_get(2)?,
                shipped_at: r.try_get(3)?,
                sales_channel: r.try_get(4)?,
                region: r.try_get(5)?,
            },
        );
    }
    Ok(out)
}
