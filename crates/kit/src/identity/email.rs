//! The one normal form of an email address, so that one person has one identity: user-service
//! keeps accounts unique and looks them up at login by it, the gateway throttles failed
//! logins by it.
//!
//! The address is trimmed, NFKC-normalised (fullwidth and other compatibility forms become
//! their plain letters, a letter and its combining accent become one) and lower-cased. Then
//! what only serves to make one address look like another is refused: format characters
//! (Unicode Cf, such as a zero-width space or a direction mark), combining marks that
//! normalisation left on their own, and a local part that mixes scripts (a Cyrillic `а`
//! among Latin letters). An address in one script throughout, Cyrillic or Greek included,
//! is accepted.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_script::{Script, UnicodeScript};

/// Why an address was refused. The messages never quote the input: an error that echoes
/// it is how injected markup gets reflected back to whoever reads the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is not a valid address such as name@example.com")]
    Invalid,
    #[error("email must not contain invisible formatting characters")]
    FormatCharacter,
    #[error("email must not contain stray combining marks")]
    CombiningMark,
    #[error("the part of the email before @ must be written in one script")]
    MixedScripts,
}

/// The normal form of `raw`, or why it is no address we accept.
pub fn normal_form(raw: &str) -> Result<String, EmailError> {
    let composed: String = raw.trim().nfkc().collect();
    let email: String = composed.to_lowercase().nfkc().collect();
    if email
        .chars()
        .any(|c| c.general_category() == GeneralCategory::Format)
    {
        return Err(EmailError::FormatCharacter);
    }
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EmailError::Invalid);
    }
    let (local, domain) = email.split_once('@').ok_or(EmailError::Invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !domain.contains("..");
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(EmailError::Invalid);
    }
    if email.chars().any(|c| {
        matches!(
            c.general_category(),
            GeneralCategory::NonspacingMark | GeneralCategory::EnclosingMark
        )
    }) {
        return Err(EmailError::CombiningMark);
    }
    let mut scripts = local
        .chars()
        .map(|c| c.script())
        .filter(|script| !matches!(script, Script::Common | Script::Inherited));
    if let Some(first) = scripts.next()
        && scripts.any(|script| script != first)
    {
        return Err(EmailError::MixedScripts);
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_of_one_address_have_its_normal_form() {
        let alice = Ok("alice@example.com".to_owned());
        assert_eq!(normal_form(" Alice@Example.COM "), alice);
        // Fullwidth letters are compatibility forms of the plain ones.
        assert_eq!(normal_form("ａｌｉｃｅ@example.com"), alice);
        // A letter and its combining accent are one letter.
        assert_eq!(
            normal_form("rene\u{301}@example.com"),
            Ok("ren\u{e9}@example.com".to_owned())
        );
    }

    #[test]
    fn invisible_and_mixed_addresses_are_refused() {
        for (raw, error) in [
            ("ali\u{200b}ce@example.com", EmailError::FormatCharacter),
            ("alice\u{200d}@example.com", EmailError::FormatCharacter),
            ("\u{202e}alice@example.com", EmailError::FormatCharacter),
            ("alice@exam\u{feff}ple.com", EmailError::FormatCharacter),
            // A Cyrillic а among Latin letters.
            ("\u{430}lice@example.com", EmailError::MixedScripts),
            // A combining stroke that composes with nothing.
            ("alic\u{336}e@example.com", EmailError::CombiningMark),
            ("alice", EmailError::Invalid),
            ("alice@localhost", EmailError::Invalid),
            ("al ice@example.com", EmailError::Invalid),
        ] {
            assert_eq!(normal_form(raw), Err(error), "{raw:?}");
        }
    }

    #[test]
    fn one_script_throughout_is_an_address() {
        assert_eq!(
            normal_form("\u{410}\u{43b}\u{438}\u{441}\u{430}@example.com"),
            Ok("\u{430}\u{43b}\u{438}\u{441}\u{430}@example.com".to_owned())
        );
        assert!(normal_form("o'brien+shop@example.com").is_ok());
    }
}
