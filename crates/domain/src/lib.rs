//! Pricegate's domain: the rules that decide whether a quote may be finalised,
//! money arithmetic, and the parsed types every edge turns raw input into.
//!
//! Nothing here performs I/O or knows about HTTP, SQL or mail; persistence,
//! mail and web depend on this crate, never the reverse.

mod calendar;
pub mod csv;
mod error;
pub mod gate;
pub mod limits;
pub mod money;
pub mod parse;
pub mod pricing;
pub mod product_csv;
mod reference;

pub use calendar::Calendar;
pub use error::Invalid;
pub use gate::{GateDecision, NoticeAck, PendingNotice, PublishedNotice, decide};
pub use money::{Currency, MAX_UNIT_PRICE_MINOR, MinorUnits, UnreadablePrice, count, parse_amount, parse_unit_price};
pub use parse::{
    CustomerEmail, DiscountBp, EARLIEST_DATE, Email, Password, Quantity, Role, Sku, Text, is_date_shaped, parse_date,
};
pub use pricing::{
    LineImpact, NoticeImpact, PriceChange, PriceStep, PricedLine, impact_of, last_in_force, line_total, quote_total,
};
pub use reference::{quote_reference, reference_range};
