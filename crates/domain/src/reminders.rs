//! The reminder schedule: the delays after a notice's publication at which
//! a salesperson who has not acknowledged it (and signs an open quote it
//! holds up) is reminded; finance's escalation follows the last. Written as
//! people write durations: `4h, 24h, 72h`.

use std::time::Duration;

use crate::Invalid;

/// The most reminders a schedule holds.
pub const MAX_REMINDERS: usize = 10;
/// The latest a reminder may come after publication.
pub const LATEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// A schedule from its parts (`["4h", "24h", "72h"]`): one to
/// [`MAX_REMINDERS`] delays, each more than zero and at most [`LATEST`],
/// each later than the one before. Problems are reported under `field`.
pub fn parse_schedule<'a>(field: &str, parts: impl IntoIterator<Item = &'a str>) -> Result<Vec<Duration>, Invalid> {
    let mut schedule = Vec::new();
    for part in parts.into_iter().map(str::trim) {
        let delay = humantime::parse_duration(part).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
            Invalid::new(field, format!("{part:?} is not a delay: write each like 30m, 4h or 3d, e.g. 4h, 24h, 72h."))
        })?;
        if delay > LATEST {
            return Err(Invalid::new(field, format!("{part} is more than a year after publication.")));
        }
        if schedule.last().is_some_and(|last| *last >= delay) {
            return Err(Invalid::new(field, "Each reminder must come later than the one before, e.g. 4h, 24h, 72h."));
        }
        schedule.push(delay);
    }
    if schedule.is_empty() {
        return Err(Invalid::new(field, "Give at least one reminder, e.g. 4h, 24h, 72h."));
    }
    if schedule.len() > MAX_REMINDERS {
        return Err(Invalid::new(field, format!("Give at most {MAX_REMINDERS} reminders.")));
    }
    Ok(schedule)
}

/// A schedule as [`parse_schedule`] reads it back: `4h, 1day, 3days`.
pub fn format_schedule(schedule: &[Duration]) -> String {
    schedule.iter().map(|d| humantime::format_duration(*d).to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    #[test]
    fn a_schedule_reads_as_people_write_it_and_back() {
        let schedule = parse_schedule("reminders", "4h, 24h,3d".split(',')).unwrap();
        assert_eq!(schedule, [hours(4), hours(24), hours(72)]);
        assert_eq!(format_schedule(&schedule), "4h, 1day, 3days");
        assert_eq!(parse_schedule("reminders", format_schedule(&schedule).split(',')).unwrap(), schedule);
    }

    #[test]
    fn a_schedule_that_cannot_work_is_refused_with_why() {
        let refused = |raw: &str| parse_schedule("reminders", raw.split(',')).unwrap_err().message;
        assert!(refused("4h, soon").contains("\"soon\" is not a delay"));
        assert!(refused("0s").contains("is not a delay"));
        assert!(refused("24h, 4h").contains("later than the one before"));
        assert!(refused("4h, 4h").contains("later than the one before"));
        assert!(refused("400days").contains("more than a year"));
        assert!(refused("1h,2h,3h,4h,5h,6h,7h,8h,9h,10h,11h").contains("at most 10"));
        assert!(parse_schedule("reminders", std::iter::empty()).unwrap_err().message.contains("at least one"));
        assert_eq!(parse_schedule("x", ["soon"]).unwrap_err().field, "x", "reported under the field given");
    }
}
