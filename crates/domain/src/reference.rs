//! A quote's short reference, as pages, files and e-mails name it, and as
//! someone types one back to find it.

use uuid::Uuid;

/// How many hexadecimal digits of a quote's id its reference is.
const REFERENCE_DIGITS: usize = 8;

/// How the pages, files and e-mails name a quote: the first
/// [`REFERENCE_DIGITS`] hexadecimal digits of its id.
pub fn quote_reference(id: Uuid) -> String {
    let mut reference = id.simple().to_string();
    reference.truncate(REFERENCE_DIGITS);
    reference
}

/// A reference as [`quote_reference`] prints one, typed back in either
/// case: in small letters, with the range of ids it stands for; `None`
/// when `typed` is not one.
pub fn reference_range(typed: &str) -> Option<(String, (Uuid, Uuid))> {
    let reference = typed.to_ascii_lowercase();
    if reference.len() != REFERENCE_DIGITS || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let first = Uuid::parse_str(&format!("{reference}-0000-0000-0000-000000000000")).ok()?;
    let last = Uuid::parse_str(&format!("{reference}-ffff-ffff-ffff-ffffffffffff")).ok()?;
    Some((reference, (first, last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_typed_back_finds_the_ids_it_was_printed_from() {
        let id = Uuid::parse_str("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9").expect("an id");
        let printed = quote_reference(id);
        assert_eq!(printed, "0a1b2c3d");
        let (reference, (first, last)) = reference_range(&printed.to_uppercase()).expect("a reference");
        assert_eq!(reference, printed);
        assert!(first <= id && id <= last, "{first} .. {last}");
        for not_one in ["0a1b2c3", "0a1b2c3d9", "0a1b2c3g", "", "Greta Berg"] {
            assert_eq!(reference_range(not_one), None, "{not_one:?}");
        }
    }
}
