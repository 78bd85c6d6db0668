//! Writing CSV that spreadsheets open safely: fields quoted where they must
//! be, and text a spreadsheet would run as a formula guarded (the price
//! list's export and the audit log's).

/// What a spreadsheet would read as the start of a formula: text written
/// with one of these first is guarded with an apostrophe, so that opening
/// the file runs nothing; [`unguarded`] takes it off again.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Where a spreadsheet may start a new cell inside a field: after a `;` (one
/// set where `;` separates a list splits the line there, quotes or not), or
/// after a line break (an import that ignores quotes at line ends starts a
/// row there).
const CELL_BREAKS: [char; 3] = [';', '\n', '\r'];

/// `text` as a file written for spreadsheets holds it: guarded where a
/// spreadsheet would take it for a formula, at its start and after each
/// [`CELL_BREAKS`] character in it, and where apostrophes come before such
/// a character, so that [`unguarded`] gives back what was written.
pub fn guarded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for cell in text.split_inclusive(CELL_BREAKS) {
        if formula_after_apostrophes(cell) {
            out.push('\'');
        }
        out.push_str(cell);
    }
    out
}

/// A field as the file holds it, without the apostrophes [`guarded`] put
/// before a formula's first character.
pub fn unguarded(field: &str) -> std::borrow::Cow<'_, str> {
    let guarded_cell = |cell: &str| cell.strip_prefix('\'').is_some_and(formula_after_apostrophes);
    if !field.split_inclusive(CELL_BREAKS).any(guarded_cell) {
        return std::borrow::Cow::Borrowed(field);
    }
    let cells = field.split_inclusive(CELL_BREAKS).map(|cell| if guarded_cell(cell) { &cell[1..] } else { cell });
    std::borrow::Cow::Owned(cells.collect())
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
/// semicolon is quoted too, for a spreadsheet that reads quotes wherever
/// `;` separates a list (one that does not is kept from running what
/// follows by [`guarded`]).
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
        assert_eq!(guarded("x;=cmd|' /C calc'!A0;y"), "x;'=cmd|' /C calc'!A0;y", "a cell after a semicolon too");
        assert_eq!(guarded("Pump; =x"), "Pump; =x", "a space first is text");
        assert_eq!(
            guarded("approved\n=HYPERLINK(\"x\")\r\n+1\tcell\n\t=tab"),
            "approved\n'=HYPERLINK(\"x\")\r\n'+1\tcell\n'\t=tab",
            "a line after a line break too"
        );
        for text in [
            "'=already",
            "''=twice",
            "=SUM(A1)",
            "Pump",
            "'quoted",
            "x;=cmd;'-y;;",
            ";+1",
            "a;'b",
            "a\n=b\r\n-c\r+d\n'@e",
            "\n\r\n;\r",
            "=",
        ] {
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
