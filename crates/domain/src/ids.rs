//! Identifiers. Clients see them as opaque strings; inside they are database row ids.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        /// Parses an id as a client sent it. Anything that is not a positive decimal number of
        /// at most 18 digits is simply an id that names nothing (the caller answers 404).
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                match s.parse::<i64>() {
                    Ok(n) if n > 0 => Ok($name(n)),
                    _ => Err(()),
                }
            }
        }
    };
}

id_type!(MemberId, "A member's id.");
id_type!(InvitationId, "An invitation's id.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_positive_decimal_numbers() {
        assert_eq!("42".parse::<MemberId>(), Ok(MemberId(42)));
        for bad in ["", "0", "-1", "1e3", " 1", "x", "9999999999999999999", "١٢"] {
            assert!(bad.parse::<MemberId>().is_err(), "{bad:?}");
        }
    }
}
