//! The catalog and stock levels as CSV, for spreadsheets and bulk edits.
//!
//! Products, one row per SKU:
//!
//! ```text
//! product_code,category_code,name_zh,name_en,kind,status,attributes,member_only,min_tier,sku_code,sku_name_zh,sku_name_en,price_fen,sku_status
//! AUR-NB-X14,laptops,极光 X14,Aurora X14,device,active,screen=14;use=office,0,,AUR-NB-X14,极光 X14,Aurora X14,699900,active
//! ```
//!
//! Stock levels: `sku_code,location_code,on_hand`.
//!
//! An import is checked row by row before anything is written; any error
//! refuses the whole file, each listed by line. Rows upsert by code and
//! rows equal to what is stored change nothing, so importing an exported
//! file, or the same file twice, writes nothing.

use super::inventory::{self, Count};
use super::products::{self, skus, Attributes, ProductInput};
use crate::audit::Actor;
use crate::clock;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
pub use crate::membership::import::RowError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const MAX_ROWS: usize = 50_000;

const PRODUCT_HEADER: [&str; 14] = [
    "product_code",
    "category_code",
    "name_zh",
    "name_en",
    "kind",
    "status",
    "attributes",
    "member_only",
    "min_tier",
    "sku_code",
    "sku_name_zh",
    "sku_name_en",
    "price_fen",
    "sku_status",
];

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub products_created: usize,
    pub products_updated: usize,
    pub skus_created: usize,
    pub skus_updated: usize,
    /// Rows already as stored.
    pub unchanged: usize,
    /// Any error means nothing was written.
    pub errors: Vec<RowError>,
}

/// `k=v;k=v`, keys sorted.
pub fn format_attributes(a: &Attributes) -> String {
    a.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

pub fn parse_attributes(s: &str) -> Result<Attributes> {
    let mut out = Attributes::new();
    for pair in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::invalid("invalid_attribute", format!("{pair:?} is not key=value"))
        })?;
        if out
            .insert(k.trim().to_owned(), v.trim().to_owned())
            .is_some()
        {
            return Err(Error::invalid(
                "invalid_attribute",
                format!("attribute {k} appears twice"),
            ));
        }
    }
    products::check_attributes(&out)?;
    Ok(out)
}

fn parse_flag(s: &str) -> Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" => Ok(false),
        "1" | "true" | "yes" => Ok(true),
        _ => Err(Error::invalid(
            "invalid_flag",
            format!("{s:?} is not 0 or 1"),
        )),
    }
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(e.into()))
}

fn csv_error(e: csv::Error) -> Error {
    Error::Internal(e.into())
}

#[derive(sqlx::FromRow)]
struct ExportRow {
    product_code: String,
    category_code: String,
    name_zh: String,
    name_en: String,
    kind: String,
    status: String,
    attributes: String,
    member_only: i64,
    min_tier: Option<String>,
    sku_code: String,
    sku_name_zh: String,
    sku_name_en: String,
    price_fen: i64,
    sku_status: String,
}

/// Every product and SKU, ordered by product and SKU code.
pub async fn export_products(conn: &mut Conn) -> Result<String> {
    let rows = sqlx::query_as::<_, ExportRow>(
        "SELECT p.code AS product_code, c.code AS category_code, p.name_zh, p.name_en, p.kind, p.status, p.attributes, \
         p.member_only, p.min_tier, s.code AS sku_code, s.name_zh AS sku_name_zh, s.name_en AS sku_name_en, \
         s.price_fen, s.status AS sku_status FROM skus s JOIN products p ON p.id = s.product_id \
         JOIN categories c ON c.id = p.category_id ORDER BY p.code, s.position, s.code",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut w = writer();
    w.write_record(PRODUCT_HEADER).map_err(csv_error)?;
    for r in rows {
        let attributes = format_attributes(&products::parse_attributes_json(&r.attributes));
        w.write_record([
            r.product_code,
            r.category_code,
            r.name_zh,
            r.name_en,
            r.kind,
            r.status,
            attributes,
            r.member_only.to_string(),
            r.min_tier.unwrap_or_default(),
            r.sku_code,
            r.sku_name_zh,
            r.sku_name_en,
            r.price_fen.to_string(),
            r.sku_status,
        ])
        .map_err(csv_error)?;
    }
    finish(w)
}

#[derive(Debug, Clone, Deserialize)]
struct ProductRow {
    product_code: String,
    category_code: String,
    name_zh: String,
    name_en: String,
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    attributes: String,
    #[serde(default)]
    member_only: String,
    #[serde(default)]
    min_tier: String,
    sku_code: String,
    #[serde(default)]
    sku_name_zh: String,
    #[serde(default)]
    sku_name_en: String,
    price_fen: i64,
    #[serde(default)]
    sku_status: String,
}

/// One checked row: the product's fields and its SKU.
struct Checked {
    line: usize,
    product: ProductInput,
    sku: skus::SkuInput,
}

/// Rows with their line numbers.
type Numbered<T> = Vec<(usize, T)>;

/// Reads the rows of `text`, numbered by line (the header is line 1).
fn read_rows<T: serde::de::DeserializeOwned>(
    text: &str,
    required: &[&str],
) -> Result<(Numbered<T>, Vec<RowError>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid("invalid_csv", format!("cannot read the CSV header: {e}")))?
        .clone();
    if let Some(missing) = required.iter().find(|h| !headers.iter().any(|x| x == **h)) {
        return Err(Error::invalid(
            "invalid_csv",
            format!("the CSV header lacks the column {missing:?}"),
        ));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if i >= MAX_ROWS {
            return Err(Error::invalid(
                "too_many_rows",
                format!("import at most {MAX_ROWS} rows per file"),
            ));
        }
        match record.and_then(|r| r.deserialize::<T>(Some(&headers))) {
            Ok(row) => rows.push((line, row)),
            Err(e) => errors.push(RowError {
                line,
                code: "invalid_row".into(),
                message: e.to_string(),
            }),
        }
    }
    Ok((rows, errors))
}

fn row_error(line: usize, e: &Error) -> RowError {
    RowError {
        line,
        code: e.code().into_owned(),
        message: e.to_string(),
    }
}

async fn check_row(conn: &mut Conn, r: ProductRow) -> Result<(ProductInput, skus::SkuInput)> {
    let or = |s: String, default: &str| if s.is_empty() { default.to_owned() } else { s };
    let min_tier = Some(r.min_tier).filter(|t| !t.is_empty());
    let product = ProductInput {
        code: r.product_code,
        category: r.category_code,
        name_zh: r.name_zh.clone(),
        name_en: r.name_en.clone(),
        kind: r.kind,
        description: String::new(),
        images: Vec::new(),
        attributes: parse_attributes(&r.attributes)?,
        member_only: parse_flag(&r.member_only)?,
        min_tier,
        service_kind: None,
        service_months: None,
        status: or(r.status, "active"),
        position: 0,
        price_fen: r.price_fen,
    };
    let mut check = product.clone();
    if check.kind == "service" {
        // The file does not carry service terms; a service keeps its own.
        check.service_kind = None;
        check.service_months = None;
    }
    products::check_product(conn, &check).await?;
    let sku = skus::SkuInput {
        code: r.sku_code,
        name_zh: or(r.sku_name_zh, &r.name_zh),
        name_en: or(r.sku_name_en, &r.name_en),
        attributes: Attributes::new(),
        price_fen: r.price_fen,
        status: or(r.sku_status, "active"),
        position: 0,
    };
    skus::check_sku(&sku)?;
    Ok((product, sku))
}

/// Checks every row: each on its own, then against the others (a product's
/// fields agree across its rows; a SKU appears once).
async fn check_products(conn: &mut Conn, text: &str) -> Result<(Vec<Checked>, Vec<RowError>)> {
    let (rows, mut errors) = read_rows::<ProductRow>(text, &PRODUCT_HEADER[..13])?;
    let mut checked: Vec<Checked> = Vec::new();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut skus_seen: HashMap<String, usize> = HashMap::new();
    for (line, row) in rows {
        let (product, sku) = match check_row(conn, row).await {
            Ok(v) => v,
            Err(e) => {
                errors.push(row_error(line, &e));
                continue;
            }
        };
        if let Some(first) = skus_seen.insert(sku.code.clone(), line) {
            errors.push(RowError {
                line,
                code: "duplicate_sku".into(),
                message: format!("SKU {} is also on line {first}", sku.code),
            });
            continue;
        }
        if let Some(&i) = first_of.get(&product.code) {
            let same = {
                let a: &ProductInput = &checked[i].product;
                let mut b = product.clone();
                b.price_fen = a.price_fen;
                *a == b
            };
            if !same {
                errors.push(RowError {
                    line,
                    code: "inconsistent_product".into(),
                    message: format!(
                        "product {} differs from line {}",
                        product.code, checked[i].line
                    ),
                });
                continue;
            }
        } else {
            first_of.insert(product.code.clone(), checked.len());
        }
        checked.push(Checked { line, product, sku });
    }
    Ok((checked, errors))
}

/// Imports products and SKUs in the caller's transaction. With errors the
/// report lists them and the caller rolls back.
pub async fn import_products(conn: &mut Conn, actor: &Actor, text: &str) -> Result<ImportReport> {
    let (checked, errors) = check_products(conn, text).await?;
    let mut report = ImportReport {
        rows: checked.len() + errors.len(),
        errors,
        ..ImportReport::default()
    };
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let mut touched = Vec::new();
    for c in &checked {
        match write_row(conn, c, &mut report).await {
            Ok(id) => touched.push(id),
            Err(e) => report.errors.push(row_error(c.line, &e)),
        }
    }
    touched.sort();
    touched.dedup();
    for id in &touched {
        products::refresh_price(conn, id).await?;
    }
    if report.errors.is_empty() {
        crate::audit::record(
            conn,
            actor,
            "catalog.import.products",
            "product",
            None,
            serde_json::json!({ "rows": report.rows, "products_created": report.products_created,
                "products_updated": report.products_updated, "skus_created": report.skus_created,
                "skus_updated": report.skus_updated }),
        )
        .await?;
    }
    Ok(report)
}

/// Upserts one row's product and SKU; returns the product id.
async fn write_row(conn: &mut Conn, c: &Checked, report: &mut ImportReport) -> Result<String> {
    let now = clock::now();
    let to_check = keep_service(conn, &c.product).await?;
    let category_id = products::check_product(conn, &to_check).await?;
    let mut changed = false;
    let product_id = match products::find(conn, &c.product.code).await? {
        None => {
            let id = new_id();
            products::insert_row(conn, &id, &category_id, &c.product, now).await?;
            report.products_created += 1;
            changed = true;
            id
        }
        Some(stored) => {
            let mut next = c.product.clone();
            keep_stored_fields(&mut next, &stored);
            if next != stored.input() {
                products::update_row(conn, &stored.id, &category_id, &next, now).await?;
                report.products_updated += 1;
                changed = true;
            }
            stored.id
        }
    };
    match skus::find(conn, &c.sku.code).await? {
        None => {
            skus::insert(conn, &product_id, &c.sku, now).await?;
            report.skus_created += 1;
            changed = true;
        }
        Some(stored) if stored.product_id != product_id => {
            return Err(Error::conflict(
                "sku_of_other_product",
                format!("SKU {} belongs to another product", c.sku.code),
            ));
        }
        Some(stored) => {
            let mut next = c.sku.clone();
            next.attributes = stored.attributes.clone();
            next.position = stored.position;
            let same = stored.name_zh == next.name_zh
                && stored.name_en == next.name_en
                && stored.price_fen == next.price_fen
                && stored.status == next.status;
            if !same {
                skus::write(conn, &stored.id, &next, now).await?;
                report.skus_updated += 1;
                changed = true;
            }
        }
    }
    if !changed {
        report.unchanged += 1;
    }
    Ok(product_id)
}

/// The row's product with the service terms already stored, which the file
/// does not carry.
async fn keep_service(conn: &mut Conn, p: &ProductInput) -> Result<ProductInput> {
    let mut p = p.clone();
    match products::find(conn, &p.code).await? {
        Some(stored) => keep_stored_fields(&mut p, &stored),
        None => {
            p.service_kind = None;
            p.service_months = None;
        }
    }
    if p.kind != "service" {
        p.service_kind = None;
        p.service_months = None;
    }
    Ok(p)
}

/// Fields the file does not carry keep their stored values.
fn keep_stored_fields(p: &mut ProductInput, stored: &products::Product) {
    p.description.clone_from(&stored.description);
    p.images.clone_from(&stored.images);
    p.service_kind.clone_from(&stored.service_kind);
    p.service_months = stored.service_months;
    p.position = stored.position;
    p.price_fen = stored.price_fen;
}

/// Every stock level: `sku_code,location_code,on_hand`.
pub async fn export_stock(conn: &mut Conn) -> Result<String> {
    let levels = inventory::levels(conn, &inventory::LevelFilter::default()).await?;
    let mut w = writer();
    w.write_record(["sku_code", "location_code", "on_hand"])
        .map_err(csv_error)?;
    for l in levels {
        w.write_record([l.sku_code, l.location_code, l.on_hand.to_string()])
            .map_err(csv_error)?;
    }
    finish(w)
}

#[derive(Debug, Clone, Deserialize)]
struct StockRow {
    sku_code: String,
    location_code: String,
    on_hand: i64,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StockReport {
    pub rows: usize,
    /// Levels whose on hand changed (each with a `count` movement).
    pub changed: usize,
    pub unchanged: usize,
    pub errors: Vec<RowError>,
}

/// Sets on hand from the file's counts in the caller's transaction; with
/// errors the caller rolls back.
pub async fn import_stock(conn: &mut Conn, actor: &Actor, text: &str) -> Result<StockReport> {
    let (rows, errors) = read_rows::<StockRow>(text, &["sku_code", "location_code", "on_hand"])?;
    let mut report = StockReport {
        rows: rows.len() + errors.len(),
        errors,
        ..StockReport::default()
    };
    let mut seen = HashMap::new();
    for (line, r) in &rows {
        if let Some(first) = seen.insert((r.sku_code.clone(), r.location_code.clone()), *line) {
            report.errors.push(RowError {
                line: *line,
                code: "duplicate_level".into(),
                message: format!(
                    "{} at {} is also on line {first}",
                    r.sku_code, r.location_code
                ),
            });
        } else if let Err(e) = check_stock_row(conn, r).await {
            report.errors.push(row_error(*line, &e));
        }
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    for (line, r) in rows {
        let count = Count {
            sku: r.sku_code,
            location: r.location_code,
            on_hand: r.on_hand,
            reference: Some("csv import".into()),
        };
        let before = current_on_hand(conn, &count).await?;
        match inventory::set_on_hand(conn, actor, &count).await {
            Ok(level) if Some(level.on_hand) == before => report.unchanged += 1,
            Ok(_) => report.changed += 1,
            Err(e) => report.errors.push(row_error(line, &e)),
        }
    }
    Ok(report)
}

async fn check_stock_row(conn: &mut Conn, r: &StockRow) -> Result<()> {
    if r.on_hand < 0 {
        return Err(Error::invalid("invalid_quantity", "on hand is 0 or more"));
    }
    if skus::find(conn, &r.sku_code).await?.is_none() {
        return Err(Error::invalid(
            "unknown_sku",
            format!("no SKU {}", r.sku_code),
        ));
    }
    if inventory::find_location(conn, &r.location_code)
        .await?
        .is_none()
    {
        return Err(Error::invalid(
            "unknown_location",
            format!("no location {}", r.location_code),
        ));
    }
    Ok(())
}

async fn current_on_hand(conn: &mut Conn, c: &Count) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT k.on_hand FROM stock_levels k JOIN skus s ON s.id = k.sku_id \
         JOIN stock_locations l ON l.id = k.location_id WHERE s.code = $1 AND l.code = $2",
    )
    .bind(&c.sku)
    .bind(&c.location)
    .fetch_optional(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let a = parse_attributes("use=gaming; screen=16").unwrap();
        assert_eq!(format_attributes(&a), "screen=16;use=gaming");
        assert_eq!(parse_attributes(&format_attributes(&a)).unwrap(), a);
        assert!(parse_attributes("oops").is_err());
        assert!(parse_attributes("a=1;a=2").is_err());
        assert!(parse_attributes("").unwrap().is_empty());
    }

    #[test]
    fn flags_read_zero_and_one() {
        assert!(parse_flag("1").unwrap());
        assert!(!parse_flag("").unwrap());
        assert!(parse_flag("maybe").is_err());
    }
}
