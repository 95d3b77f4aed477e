//! Values that cross the edge of the system. Each can only be built through `parse`, so an invalid
//! email, note or name cannot exist past the request that carried it.

use crate::RuleError;

/// A normalised email address: trimmed and lower-cased. Private: never shown to other members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, RuleError> {
        let s = raw.trim().to_lowercase();
        let bad =
            || RuleError::validation("email", "must be an email address such as ada@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return Err(bad());
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed at signup: 10 to 256 characters. Its text never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Password, RuleError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(RuleError::validation(
                "password",
                "must be at least 10 characters",
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(RuleError::validation(
                "password",
                "must be at most 256 characters",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// One line of profile text (name, headline, company, location): trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileField(String);

impl ProfileField {
    /// `required` fields (the name) may not be empty.
    pub fn parse(
        field: &'static str,
        raw: &str,
        max_chars: usize,
        required: bool,
    ) -> Result<Self, RuleError> {
        let s = raw.trim();
        if required && s.is_empty() {
            return Err(RuleError::validation(field, "must not be empty"));
        }
        if s.chars().count() > max_chars {
            return Err(RuleError::validation(
                field,
                format!("must be at most {max_chars} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(RuleError::validation(
                field,
                "must not contain control characters",
            ));
        }
        Ok(ProfileField(s.to_owned()))
    }

    pub fn name(raw: &str) -> Result<Self, RuleError> {
        Self::parse("name", raw, 100, true)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The personal note of an invitation: plain text, at most `max_chars` characters, line breaks
/// allowed, every other control character refused. A blank note is no note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Option<Note>, RuleError> {
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
        {
            return Err(RuleError::validation(
                "note",
                "must not contain control characters other than line breaks",
            ));
        }
        let s = raw.trim();
        if s.chars().count() > max_chars {
            return Err(RuleError::NoteTooLong { max: max_chars });
        }
        Ok((!s.is_empty()).then(|| Note(s.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".into())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "", "ada", "@x.io", "ada@", "ada@io", "a b@x.io", "a@b@x.io", "a@.io", "a@x..io",
            "a@-x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("1234567890").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("secretsecret")),
            "Ok(Password(<redacted>))"
        );
    }

    #[test]
    fn notes_allow_line_breaks_but_no_other_control_characters() {
        assert!(Note::parse("Hi,\r\nlet's connect", 300).unwrap().is_some());
        assert!(matches!(
            Note::parse("bell\u{7}", 300),
            Err(RuleError::Validation { field: "note", .. })
        ));
        assert!(Note::parse("tab\there", 300).is_err());
    }

    #[test]
    fn notes_count_characters_not_bytes() {
        let at_limit = "é".repeat(300);
        assert!(Note::parse(&at_limit, 300).is_ok());
        assert_eq!(
            Note::parse(&format!("{at_limit}é"), 300),
            Err(RuleError::NoteTooLong { max: 300 })
        );
    }

    #[test]
    fn blank_notes_are_no_note() {
        assert_eq!(Note::parse("   \n ", 300), Ok(None));
    }

    #[test]
    fn names_are_required_and_single_line() {
        assert!(ProfileField::name("  ").is_err());
        assert!(ProfileField::name("Ada\nLovelace").is_err());
        assert_eq!(
            ProfileField::name(" Ada ").map(ProfileField::into_string),
            Ok("Ada".into())
        );
    }
}
