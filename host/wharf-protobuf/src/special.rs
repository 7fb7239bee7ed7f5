//! The JSON forms of Kubernetes' special scalar messages, as Go writes them:
//! `metav1.Time` and `metav1.MicroTime` (RFC 3339 in UTC) and
//! `metav1.Duration` (`time.Duration.String()`).

/// Seconds from 0001-01-01T00:00:00Z to the Unix epoch: Go's zero `time.Time`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const MAX_RFC3339_UNIX: i64 = 253_402_300_799;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// How precisely a time is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TimePrecision {
    /// `2006-01-02T15:04:05Z` (`metav1.Time`).
    Seconds,
    /// `2006-01-02T15:04:05.000000Z` (`metav1.MicroTime`).
    Micros,
}

/// What a time is in JSON.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TimeJson {
    /// Go's zero time, written as `null`.
    Null,
    Rfc3339(String),
}

/// Writes the time `seconds` and `nanos` after the Unix epoch as Go writes
/// it in JSON: in UTC, truncated to the precision; `None` when the year is
/// outside 0000–9999, which Go refuses to write.
pub(crate) fn format_time(seconds: i64, nanos: i64, precision: TimePrecision) -> Option<TimeJson> {
    // time.Unix accepts nanos outside [0, 1e9) and carries them into seconds.
    let seconds = seconds.checked_add(nanos.div_euclid(NANOS_PER_SECOND))?;
    let nanos = nanos.rem_euclid(NANOS_PER_SECOND);
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Some(TimeJson::Null);
    }
    let days_before_year_zero = days_from_civil(0, 1, 1);
    if seconds < days_before_year_zero * 86_400 || seconds > MAX_RFC3339_UNIX {
        return None;
    }
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let date_time = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    Some(TimeJson::Rfc3339(match precision {
        TimePrecision::Seconds => format!("{date_time}Z"),
        TimePrecision::Micros => format!("{date_time}.{:06}Z", nanos / 1000),
    }))
}

/// Days since the Unix epoch of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day since the Unix epoch (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes a duration of `nanos` nanoseconds as Go's `time.Duration.String()`
/// does: `1h0m0s`, `1m30s`, `1.5s`, `300ms`, `0s`.
pub(crate) fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let total = nanos.unsigned_abs();
    if total < 1_000_000_000 {
        let (unit_nanos, digits, unit) = match total {
            0..1_000 => (1, 0, "ns"),
            1_000..1_000_000 => (1_000, 3, "µs"),
            _ => (1_000_000, 6, "ms"),
        };
        return format!(
            "{sign}{}{unit}",
            with_fraction(total / unit_nanos, total % unit_nanos, digits)
        );
    }
    let seconds = total / 1_000_000_000;
    let mut text = format!("{}s", with_fraction(seconds % 60, total % 1_000_000_000, 9));
    let minutes = seconds / 60;
    if minutes > 0 {
        text = format!("{}m{text}", minutes % 60);
        let hours = minutes / 60;
        if hours > 0 {
            text = format!("{hours}h{text}");
        }
    }
    format!("{sign}{text}")
}

/// `whole.fraction`, the fraction written in `digits` digits with trailing
/// zeros (and a bare dot) removed.
fn with_fraction(whole: u64, fraction: u64, digits: usize) -> String {
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_rfc3339() {
        let cases = [
            (
                1_795_741_976,
                0,
                TimePrecision::Seconds,
                "2026-11-27T01:12:56Z",
            ),
            (
                1_795_741_976,
                999_999_999,
                TimePrecision::Seconds,
                "2026-11-27T01:12:56Z",
            ),
            (
                1_795_741_976,
                123_456_789,
                TimePrecision::Micros,
                "2026-11-27T01:12:56.123456Z",
            ),
            (
                1_795_741_976,
                0,
                TimePrecision::Micros,
                "2026-11-27T01:12:56.000000Z",
            ),
            (0, 0, TimePrecision::Seconds, "1970-01-01T00:00:00Z"),
            (-1, 0, TimePrecision::Seconds, "1969-12-31T23:59:59Z"),
            (
                951_782_400,
                0,
                TimePrecision::Seconds,
                "2000-02-29T00:00:00Z",
            ),
            (0, -1, TimePrecision::Micros, "1969-12-31T23:59:59.999999Z"),
            (
                253_402_300_799,
                0,
                TimePrecision::Seconds,
                "9999-12-31T23:59:59Z",
            ),
            (
                -62_167_219_200,
                0,
                TimePrecision::Seconds,
                "0000-01-01T00:00:00Z",
            ),
        ];
        for (seconds, nanos, precision, expected) in cases {
            assert_eq!(
                format_time(seconds, nanos, precision),
                Some(TimeJson::Rfc3339(expected.into())),
                "{seconds}s {nanos}ns"
            );
        }
    }

    #[test]
    fn go_zero_time_is_null_and_years_past_9999_have_no_json() {
        assert_eq!(
            format_time(GO_ZERO_TIME_UNIX, 0, TimePrecision::Seconds),
            Some(TimeJson::Null)
        );
        assert_eq!(
            format_time(253_402_300_800, 0, TimePrecision::Seconds),
            None
        );
        assert_eq!(
            format_time(-62_167_219_201, 0, TimePrecision::Seconds),
            None
        );
        assert_eq!(
            format_time(i64::MAX, i64::MAX, TimePrecision::Seconds),
            None
        );
        assert_eq!(format_time(i64::MIN, i64::MIN, TimePrecision::Micros), None);
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        let cases = [
            (0, "0s"),
            (3_600_000_000_000, "1h0m0s"),
            (30_000_000_000, "30s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (300_000_000, "300ms"),
            (1_500, "1.5µs"),
            (7, "7ns"),
            (-1_500_000_000, "-1.5s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, expected) in cases {
            assert_eq!(format_duration(nanos), expected, "{nanos}ns");
        }
    }
}
