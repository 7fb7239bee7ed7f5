//! Cron schedules as kube accepts them (robfig/cron's standard parser):
//! five fields — minute, hour, day of month, month, day of week — each `*`,
//! `?` (day fields), a value, a range `a-b`, a step `*/n`, `a-b/n` or
//! `a/n`, or a comma-separated list of those; month and weekday names
//! (`JAN`, `MON`); and the macros `@yearly`, `@annually`, `@monthly`,
//! `@weekly`, `@daily`, `@midnight`, `@hourly`. A day matches when both day
//! fields match, or either one when both are restricted (not `*`).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day of month or day of week was `*` (or `?`).
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Schedule {
    /// Parses a schedule, with robfig/cron's error messages.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!("unrecognized descriptor: {other}"));
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {text}",
                fields.len()
            ));
        }
        let (days, any_day) = field(fields[2], 1, 31, &[])?;
        let (weekdays, any_weekday) = field(fields[4], 0, 7, &WEEKDAYS)?;
        // 7 is Sunday too.
        let weekdays = (weekdays | ((weekdays >> 7) & 1)) & 0x7f;
        Ok(Schedule {
            minutes: field(fields[0], 0, 59, &[])?.0,
            hours: field(fields[1], 0, 23, &[])?.0,
            days,
            months: field(fields[3], 1, 12, &MONTHS)?.0,
            weekdays,
            any_day,
            any_weekday,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let day = bit(&self.days, u32::from(date.day().unsigned_abs()));
        let weekday = bit(
            &self.weekdays,
            u32::from(date.weekday().to_sunday_zero_offset().unsigned_abs()),
        );
        if self.any_day || self.any_weekday {
            day && weekday
        } else {
            day || weekday
        }
    }

    /// The first time after `after` (strictly) that the schedule names, in
    /// `tz`; `None` if there is none within five years (February 30th).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(tz.clone()).datetime();
        let mut t = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let limit = t.year() + 5;
        while t.year() <= limit {
            if !bit(&self.months, u32::from(t.month().unsigned_abs())) {
                t = first_of_next_month(t)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = DateTime::from_parts(t.date().tomorrow().ok()?, Time::midnight());
                continue;
            }
            if !bit(&self.hours, u32::from(t.hour().unsigned_abs())) {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if !bit(&self.minutes, u32::from(t.minute().unsigned_abs())) {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            // A local time a DST change skips runs at the moment after the
            // gap, as Go's time.Date places it.
            let at = tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
            if at > after {
                return Some(at);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

fn first_of_next_month(t: DateTime) -> Option<DateTime> {
    let first = t.date().first_of_month().checked_add(1.month()).ok()?;
    Some(DateTime::from_parts(first, Time::midnight()))
}

fn bit(set: &u64, value: u32) -> bool {
    value < 64 && set & (1 << value) != 0
}

/// One field: its bit set and whether it was `*` / `?`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let mut set = 0u64;
    let mut any = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("failed to parse int from {step}"))?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (start, end) = match range {
            "*" | "?" => {
                any = step.is_none() && text.split(',').count() == 1;
                (min, max)
            }
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, names, min)?, value(b, names, min)?),
                None => {
                    let a = value(range, names, min)?;
                    (a, if step.is_some() { max } else { a })
                }
            },
        };
        if start < min {
            return Err(format!(
                "beginning of range ({start}) below minimum ({min}): {part}"
            ));
        }
        if end > max {
            return Err(format!(
                "end of range ({end}) above maximum ({max}): {part}"
            ));
        }
        if start > end {
            return Err(format!(
                "beginning of range ({start}) beyond end of range ({end}): {part}"
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            set |= 1 << v;
            v += step;
        }
    }
    Ok((set, any))
}

/// A number, or a name (`JAN` is 1 when `min` is 1, `SUN` 0).
fn value(text: &str, names: &[&str], min: u32) -> Result<u32, String> {
    if let Some(at) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(u32::try_from(at).unwrap_or(0) + min);
    }
    text.parse()
        .map_err(|_| format!("failed to parse int from {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next(schedule: &str, after: &str) -> String {
        let schedule = Schedule::parse(schedule).unwrap();
        schedule
            .next(at(after), &TimeZone::UTC)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_next_time_follows_each_field() {
        assert_eq!(
            next("*/5 * * * *", "2026-12-07T10:03:20Z"),
            "2026-12-07T10:05:00Z"
        );
        assert_eq!(
            next("*/5 * * * *", "2026-12-07T10:05:00Z"),
            "2026-12-07T10:10:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "2026-12-07T10:03:00Z"),
            "2026-12-08T03:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-12-31T23:30:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2026-12-07T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("30 9 * * MON-FRI", "2026-12-05T12:00:00Z"),
            "2026-12-07T09:30:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-07T00:00:00Z"),
            "2026-12-13T00:00:00Z"
        );
        // Both day fields restricted: either matches (the 1st, or a Friday).
        assert_eq!(
            next("0 0 1 * FRI", "2026-12-07T00:00:00Z"),
            "2026-12-11T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1,15 JAN,jul ?", "2026-12-07T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert!(
            Schedule::parse("0 0 30 2 *")
                .unwrap()
                .next(at("2026-01-01T00:00:00Z"), &TimeZone::UTC)
                .is_none()
        );
    }

    #[test]
    fn a_time_zone_moves_the_schedule() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let schedule = Schedule::parse("0 9 * * *").unwrap();
        // 09:00 in New York in December is 14:00 UTC.
        assert_eq!(
            schedule
                .next(at("2026-12-07T10:00:00Z"), &tz)
                .unwrap()
                .to_string(),
            "2026-12-07T14:00:00Z"
        );
    }

    #[test]
    fn bad_schedules_get_robfigs_messages() {
        let error = |text| Schedule::parse(text).unwrap_err();
        assert_eq!(
            error("* * * *"),
            "expected exactly 5 fields, found 4: * * * *"
        );
        assert_eq!(
            error("61 * * * *"),
            "end of range (61) above maximum (59): 61"
        );
        assert_eq!(
            error("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(error("x * * * *"), "failed to parse int from x");
        assert_eq!(error("@often"), "unrecognized descriptor: @often");
        assert_eq!(
            error("5-1 * * * *"),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
    }
}
