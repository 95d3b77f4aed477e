//! Opaque list cursors. Clients pass them back untouched; a cursor that was not made here is a
//! validation error, never a 500.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rapport_domain::RuleError;

pub fn encode(parts: &[i64]) -> String {
    let text = parts
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a cursor of exactly `n` numbers.
pub fn decode(cursor: &str, n: usize) -> Result<Vec<i64>, RuleError> {
    let bad = || RuleError::validation("cursor", "is not a cursor this list gave out");
    if cursor.len() > 128 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<i64> = text
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if parts.len() != n {
        return Err(bad());
    }
    Ok(parts)
}

/// The id a list continues below, from a cursor of one number (none: from the top).
pub fn before(cursor: Option<&str>) -> Result<Option<i64>, RuleError> {
    cursor.map(|c| decode(c, 1).map(|p| p[0])).transpose()
}

/// The cursor of the page after `items`, a page of `limit` keyed by one id: none when the page
/// was not full (there is nothing after it).
pub fn after<T>(items: &[T], limit: u32, id: impl Fn(&T) -> i64) -> Option<String> {
    if items.len() as u32 != limit {
        return None;
    }
    items.last().map(|last| encode(&[id(last)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        assert_eq!(decode(&encode(&[5, -3]), 2), Ok(vec![5, -3]));
        assert!(decode(&encode(&[5]), 2).is_err());
        for bad in ["", "!!", "bm90IG51bWJlcnM", &"A".repeat(200)] {
            assert!(decode(bad, 1).is_err(), "{bad}");
        }
    }
}
