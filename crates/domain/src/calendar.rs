//! Which day it is for the business: the dates a price takes force on, a
//! quote is valid until, and a notice is published on are days where the
//! company trades (`PRICEGATE_TIMEZONE`), not days in UTC. A price raised
//! "from 1 March" in Berlin is in force from midnight in Berlin, an hour
//! before midnight in UTC.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};

use crate::Invalid;

/// The business's time zone, by its IANA name (`Europe/Berlin`); UTC unless
/// configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    zone: Tz,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::UTC
    }
}

impl Calendar {
    pub const UTC: Calendar = Calendar { zone: Tz::UTC };

    /// A calendar by IANA zone name (`Europe/Berlin`, `America/New_York`,
    /// `UTC`), as named in the time zone database; case matters.
    pub fn parse(name: &str) -> Result<Calendar, String> {
        let name = name.trim();
        name.parse::<Tz>().map(|zone| Calendar { zone }).map_err(|_| {
            match TZ_VARIANTS.iter().find(|zone| zone.name().eq_ignore_ascii_case(name)) {
                Some(zone) => format!("`{name}` is not a time zone name: did you mean `{}`?", zone.name()),
                None => format!("`{name}` is not a time zone name like `Europe/Berlin` or `UTC`"),
            }
        })
    }

    /// The zone's IANA name, as PostgreSQL's `AT TIME ZONE` also takes it.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The business day `at` falls on.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// The business day from which a price change dated `effective_on`
    /// counts, its notice published at `published_at`: its date, or, for one
    /// dated before its publication, the day of the publication (the gate
    /// read the price before it until then).
    pub fn takes_force_on(&self, effective_on: NaiveDate, published_at: DateTime<Utc>) -> NaiveDate {
        effective_on.max(self.date_of(published_at))
    }

    /// The first instant of business day `day`: its midnight in the zone,
    /// or, where the clocks skip midnight that day, the first minute they show.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        use chrono::TimeZone;
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        (0..=24 * 60)
            .find_map(|minutes| {
                let local = midnight.checked_add_signed(chrono::Duration::minutes(minutes))?;
                self.zone.from_local_datetime(&local).earliest()
            })
            .map_or_else(|| midnight.and_utc(), |start| start.with_timezone(&Utc))
    }

    /// The wall-clock time `at` is in the zone.
    pub fn local_time(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.zone).naive_local()
    }

    /// The business day it is now, by this process's clock. The store reads
    /// the database's clock instead where several processes must agree.
    pub fn today(&self) -> NaiveDate {
        self.date_of(Utc::now())
    }

    /// Refuses a `date` before `today` for `field`, naming the business's
    /// today: a caller whose own clock is on another day sees which one counts.
    pub fn refuse_past(&self, field: &str, date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, Invalid> {
        if date < today {
            return Err(Invalid::new(field, format!("{field} must be today ({today} in {self}) or later.")));
        }
        Ok(date)
    }

    /// `at` as a person reads it on a page or in an e-mail: local time with
    /// the zone's abbreviation (`2026-03-01 09:30 CET`), to the minute, or to
    /// the second with `seconds`.
    pub fn stamp(&self, at: DateTime<Utc>, seconds: bool) -> String {
        let format = if seconds { "%Y-%m-%d %H:%M:%S %Z" } else { "%Y-%m-%d %H:%M %Z" };
        at.with_timezone(&self.zone).format(format).to_string()
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.zone_name())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("a valid instant")
    }

    #[test]
    fn a_business_day_starts_at_its_midnight_in_the_zone() {
        let berlin = Calendar::parse("Europe/Berlin").expect("a zone");
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
        assert_eq!(berlin.start_of(day(2026, 3, 1)).to_rfc3339(), "2026-02-28T23:00:00+00:00");
        assert_eq!(berlin.start_of(day(2026, 7, 15)).to_rfc3339(), "2026-07-14T22:00:00+00:00");
        assert_eq!(Calendar::UTC.start_of(day(2026, 3, 1)).to_rfc3339(), "2026-03-01T00:00:00+00:00");
        // Havana's clocks went from midnight to one on 2026-03-08: its day starts at one.
        let havana = Calendar::parse("America/Havana").expect("a zone");
        assert_eq!(havana.start_of(day(2026, 3, 8)).to_rfc3339(), "2026-03-08T05:00:00+00:00");
    }

    #[test]
    fn the_business_day_turns_at_local_midnight() {
        let berlin = Calendar::parse("Europe/Berlin").expect("a zone");
        let new_york = Calendar::parse("America/New_York").expect("a zone");
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
        // 23:30 UTC on 28 February is already 1 March in Berlin (UTC+1)
        // and still 28 February in New York (UTC-5).
        assert_eq!(berlin.date_of(utc(2026, 2, 28, 23, 30)), date(2026, 3, 1));
        assert_eq!(new_york.date_of(utc(2026, 2, 28, 23, 30)), date(2026, 2, 28));
        assert_eq!(Calendar::UTC.date_of(utc(2026, 2, 28, 23, 30)), date(2026, 2, 28));
        // 03:30 UTC on 1 March is still 28 February in New York.
        assert_eq!(new_york.date_of(utc(2026, 3, 1, 3, 30)), date(2026, 2, 28));
        // Summer time: Berlin is UTC+2, so 22:30 UTC is the next day.
        assert_eq!(berlin.date_of(utc(2026, 7, 14, 22, 30)), date(2026, 7, 15));
        assert_eq!(berlin.date_of(utc(2026, 7, 14, 21, 30)), date(2026, 7, 14));
    }

    #[test]
    fn stamps_read_in_local_time_with_the_zone() {
        let berlin = Calendar::parse("Europe/Berlin").expect("a zone");
        assert_eq!(berlin.stamp(utc(2026, 3, 1, 8, 30), false), "2026-03-01 09:30 CET");
        assert_eq!(berlin.stamp(utc(2026, 7, 1, 8, 30), true), "2026-07-01 10:30:00 CEST");
        assert_eq!(Calendar::UTC.stamp(utc(2026, 3, 1, 8, 30), true), "2026-03-01 08:30:00 UTC");
    }

    #[test]
    fn only_names_from_the_time_zone_database_are_taken() {
        assert_eq!(Calendar::parse("UTC"), Ok(Calendar::UTC));
        assert_eq!(Calendar::parse(" Europe/Berlin ").map(|c| c.zone_name()), Ok("Europe/Berlin"));
        for bad in ["", "Berlin", "Europe/Atlantis", "+01:00", "CET'; DROP TABLE quotes; --"] {
            assert!(Calendar::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Calendar::parse("europe/berlin").unwrap_err(),
            "`europe/berlin` is not a time zone name: did you mean `Europe/Berlin`?"
        );
    }

    #[test]
    fn a_past_date_is_refused_with_the_business_today() {
        let kiritimati = Calendar::parse("Pacific/Kiritimati").expect("a zone");
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("a date");
        assert_eq!(kiritimati.refuse_past("valid_until", today, today), Ok(today));
        let refused = kiritimati.refuse_past("valid_until", today.pred_opt().expect("a date"), today).unwrap_err();
        assert_eq!(refused.field, "valid_until");
        assert_eq!(refused.message, "valid_until must be today (2026-12-02 in Pacific/Kiritimati) or later.");
    }
}
