//! How long each kind of text may be, in characters. One list, so the API,
//! the pages, the CSV import and the demo data accept exactly the same input:
//! a notice drafted in the browser can always be edited through the API.

/// A person's, customer's, company's or product's name.
pub const NAME: usize = 200;
/// What one of a product is: `each`, `m`, `box of 10`.
pub const UNIT: usize = 32;
/// A notice's title.
pub const TITLE: usize = 200;
/// A notice's Markdown body.
pub const NOTICE_BODY: usize = 20_000;
/// A quote's notes.
pub const NOTES: usize = 5_000;
/// Why finance approves prices that are no longer in force.
pub const REASON: usize = 2_000;
