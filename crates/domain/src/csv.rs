//! Writing CSV that spreadsheets open safely: fields quoted where they must
//! be, and text a spreadsheet would run as a formula guarded (the price
//! list's export and the audit log's).

/// What a spreadsheet would read as the start of a formula: text written
/// with one of these first is guarded with an apostrophe, so that opening
/// the file runs nothing; [`unguarded`] takes it off again.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a file written for spreadsheets holds it: guarded where a
/// spreadsheet would take it for a formula, and where apostrophes come before
/// such a character, so that [`unguarded`] gives back what was written.
pub fn guarded(text: &str) -> String {
    if formula_after_apostrophes(text) { format!("'{text}") } else { text.to_owned() }
}

/// A field as the file holds it, without the apostrophe [`guarded`] put
/// before a formula's first character.
pub fn unguarded(field: &str) -> &str {
    match field.strip_prefix('\'') {
        Some(rest) if formula_after_apostrophes(rest) => rest,
        _ => field,
    }
}

/// Whether `text`, its leading apostrophes aside, starts as a formula does.
fn formula_after_apostrophes(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(FORMULA_START)
}

/// Appends `fields` to `out` as one CSV line ending in CRLF, each quoted
/// where it must be (guarding them is the caller's: [`guarded`]).
pub fn push_line(out: &mut String, fields: &[&str]) {
    let cells: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// A field of a CSV line: quoted where it must be, its quotes doubled. A
/// semicolon is quoted too: a spreadsheet set where `;` separates a list
/// would split `Pump; =HYPERLINK(…)` there, and run what follows.
pub fn csv_field(field: &str) -> String {
    let plain = !field.contains([',', ';', '"', '\n', '\r']) && field.trim() == field;
    if plain { field.to_owned() } else { format!("\"{}\"", field.replace('"', "\"\"")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_guarded_and_fields_quoted_where_they_must_be() {
        assert_eq!(guarded("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guarded("-5"), "'-5");
        assert_eq!(guarded("Pump"), "Pump");
        assert_eq!(unguarded("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unguarded("'quoted"), "'quoted", "an apostrophe of its own stays");
        for text in ["'=already", "''=twice", "=SUM(A1)", "Pump", "'quoted"] {
            assert_eq!(unguarded(&guarded(text)), text, "{text} comes back as it was");
        }
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(
            csv_field("Pump; =HYPERLINK(\"x\")"),
            "\"Pump; =HYPERLINK(\"\"x\"\")\"",
            "kept whole where ; separates"
        );
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
