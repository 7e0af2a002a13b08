//! Persisting bitmaps and whole populations.
//!
//! Single bitmaps use roaring's portable format (the format shared with CRoaring, Java and Go
//! implementations), suitable for a `BLOB`/`BYTEA` column per tag. A population snapshot is a
//! little-endian container around portable bitmaps:
//!
//! ```text
//! "COVEAUD1"
//! bitmap universe
//! u32 tag count,         then per tag:   string name, bitmap
//! u32 numeric count,     then per trait: string key, 65 bitmaps (presence, bit slices 0..64)
//! u32 categorical count, then per trait: string key, u32 value count, per value: string, bitmap
//! string := u32 byte length, UTF-8 bytes
//! bitmap := u64 byte length, portable roaring bytes
//! ```

use std::io::{self, Read, Write};

use roaring::RoaringBitmap;

use crate::categorical::CategoricalColumn;
use crate::numeric::NumericColumn;
use crate::population::Population;

const MAGIC: &[u8; 8] = b"COVEAUD1";
/// Longest tag, trait or value string accepted when reading, to bound allocations.
const MAX_STRING: u32 = 1 << 20;

/// Why a snapshot or bitmap could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The underlying reader or writer failed, or a bitmap was malformed.
    #[error("snapshot i/o: {0}")]
    Io(#[from] io::Error),
    /// The input does not start with the snapshot header.
    #[error("not an audience snapshot (bad header)")]
    BadMagic,
    /// The input is structurally invalid.
    #[error("corrupt audience snapshot: {0}")]
    Corrupt(String),
}

/// Encodes one bitmap in roaring's portable format.
pub fn encode_bitmap(bitmap: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    // Writing into a Vec cannot fail.
    if bitmap.serialize_into(&mut out).is_err() {
        out.clear();
    }
    out
}

/// Decodes one bitmap from roaring's portable format.
pub fn decode_bitmap(bytes: &[u8]) -> Result<RoaringBitmap, SnapshotError> {
    Ok(RoaringBitmap::deserialize_from(bytes)?)
}

fn len_u32(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many entries"))
}

fn write_u32(w: &mut impl Write, n: u32) -> io::Result<()> {
    w.write_all(&n.to_le_bytes())
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    write_u32(w, len_u32(s.len())?)?;
    w.write_all(s.as_bytes())
}

fn write_bitmap(w: &mut impl Write, bitmap: &RoaringBitmap) -> io::Result<()> {
    let size = u64::try_from(bitmap.serialized_size()).unwrap_or(u64::MAX);
    w.write_all(&size.to_le_bytes())?;
    bitmap.serialize_into(w)
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut buf = [0u8; 4];
    r.read_exact(&mut buf)?;
    Ok(u32::from_le_bytes(buf))
}

fn read_str(r: &mut impl Read) -> Result<String, SnapshotError> {
    let len = read_u32(r)?;
    if len > MAX_STRING {
        return Err(SnapshotError::Corrupt(format!("string of {len} bytes")));
    }
    let mut buf = Vec::new();
    r.take(u64::from(len)).read_to_end(&mut buf)?;
    if buf.len() != len as usize {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    String::from_utf8(buf).map_err(|_| SnapshotError::Corrupt("string is not UTF-8".to_owned()))
}

fn read_bitmap(r: &mut impl Read) -> Result<RoaringBitmap, SnapshotError> {
    let mut buf = [0u8; 8];
    r.read_exact(&mut buf)?;
    let size = u64::from_le_bytes(buf);
    let mut limited = r.take(size);
    let bitmap = RoaringBitmap::deserialize_from(&mut limited)?;
    if limited.limit() != 0 {
        return Err(SnapshotError::Corrupt(
            "bitmap shorter than its length prefix".to_owned(),
        ));
    }
    Ok(bitmap)
}

fn sorted<V>(map: &std::collections::HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

impl Population {
    /// Writes the whole population (universe, tags, numeric and categorical traits).
    ///
    /// Output is deterministic: keys are written in sorted order.
    pub fn write_snapshot(&self, mut w: impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        write_bitmap(&mut w, &self.universe)?;
        write_u32(&mut w, len_u32(self.tags.len())?)?;
        for (name, bitmap) in sorted(&self.tags) {
            write_str(&mut w, name)?;
            write_bitmap(&mut w, bitmap)?;
        }
        write_u32(&mut w, len_u32(self.numeric.len())?)?;
        for (key, column) in sorted(&self.numeric) {
            write_str(&mut w, key)?;
            for bitmap in column.bitmaps() {
                write_bitmap(&mut w, bitmap)?;
            }
        }
        write_u32(&mut w, len_u32(self.categorical.len())?)?;
        for (key, column) in sorted(&self.categorical) {
            write_str(&mut w, key)?;
            let mut entries: Vec<_> = column.entries().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            write_u32(&mut w, len_u32(entries.len())?)?;
            for (value, bitmap) in entries {
                write_str(&mut w, value)?;
                write_bitmap(&mut w, bitmap)?;
            }
        }
        w.flush()
    }

    /// Reads a population written by [`Population::write_snapshot`], checking that every index
    /// lies within the universe.
    pub fn read_snapshot(mut r: impl Read) -> Result<Self, SnapshotError> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let mut population = Population {
            universe: read_bitmap(&mut r)?,
            ..Population::default()
        };
        let outside = |what: &str, key: &str| {
            SnapshotError::Corrupt(format!("{what} `{key}` has profiles outside the universe"))
        };
        for _ in 0..read_u32(&mut r)? {
            let name = read_str(&mut r)?;
            let bitmap = read_bitmap(&mut r)?;
            if !bitmap.is_subset(&population.universe) {
                return Err(outside("tag", &name));
            }
            population.tags.insert(name, bitmap);
        }
        for _ in 0..read_u32(&mut r)? {
            let key = read_str(&mut r)?;
            let bitmaps = (0..65)
                .map(|_| read_bitmap(&mut r))
                .collect::<Result<Vec<_>, _>>()?;
            let column = NumericColumn::from_bitmaps(bitmaps).ok_or_else(|| {
                SnapshotError::Corrupt(format!("numeric trait `{key}` has inconsistent slices"))
            })?;
            if !column.present().is_subset(&population.universe) {
                return Err(outside("numeric trait", &key));
            }
            population.numeric.insert(key, column);
        }
        for _ in 0..read_u32(&mut r)? {
            let key = read_str(&mut r)?;
            let count = read_u32(&mut r)?;
            let mut entries = Vec::new();
            for _ in 0..count {
                let value = read_str(&mut r)?;
                entries.push((value, read_bitmap(&mut r)?));
            }
            let column = CategoricalColumn::from_entries(entries).ok_or_else(|| {
                SnapshotError::Corrupt(format!("categorical trait `{key}` has overlapping values"))
            })?;
            if !column.present().is_subset(&population.universe) {
                return Err(outside("categorical trait", &key));
            }
            population.categorical.insert(key, column);
        }
        Ok(population)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn sample_population() -> Population {
        let mut p = Population::new();
        p.load_tag("a", (0..5000).filter(|o| o % 3 == 0));
        p.load_tag("b", 100..200);
        p.define_tag("empty");
        p.load_numbers("spend", (0..5000).map(|o| (o, i64::from(o) - 2500)));
        p.load_texts(
            "city",
            (0..5000).map(|o| (o, ["x", "y", "z"][o as usize % 3])),
        );
        p.add_profile(9999);
        p
    }

    #[test]
    fn a_snapshot_round_trips_and_answers_the_same() {
        let p = sample_population();
        let mut bytes = Vec::new();
        p.write_snapshot(&mut bytes).unwrap();
        let q = Population::read_snapshot(bytes.as_slice()).unwrap();
        assert_eq!(q.universe(), p.universe());
        assert_eq!(q.tag_names(), p.tag_names());
        let expr = parse(
            "tag:a AND NOT tag:b AND trait:spend BETWEEN -100 AND 900 AND trait:city != \"y\"",
        )
        .unwrap();
        assert_eq!(q.evaluate(&expr), p.evaluate(&expr));
        assert_eq!(q.categorical("city").and_then(|c| c.get(4)), Some("y"));
        assert_eq!(q.numeric("spend").and_then(|c| c.get(7)), Some(-2493));
        let mut again = Vec::new();
        q.write_snapshot(&mut again).unwrap();
        assert_eq!(again, bytes, "snapshots are deterministic");
    }

    #[test]
    fn truncated_or_foreign_input_is_rejected() {
        let mut bytes = Vec::new();
        sample_population().write_snapshot(&mut bytes).unwrap();
        for cut in [0, 7, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Population::read_snapshot(&bytes[..cut]).is_err(),
                "accepted a snapshot cut at {cut}"
            );
        }
        assert!(matches!(
            Population::read_snapshot(&b"NOTASNAPSHOT"[..]),
            Err(SnapshotError::BadMagic)
        ));
    }

    #[test]
    fn single_bitmaps_use_the_portable_format() {
        let bitmap: RoaringBitmap = (0..70_000).step_by(3).collect();
        let bytes = encode_bitmap(&bitmap);
        assert_eq!(bytes.len(), bitmap.serialized_size());
        // Portable format without runs starts with the cookie 12346 (little-endian).
        assert_eq!(&bytes[..4], &12346u32.to_le_bytes());
        assert_eq!(decode_bitmap(&bytes).unwrap(), bitmap);
        assert!(decode_bitmap(&bytes[..bytes.len() - 3]).is_err());
    }
}
