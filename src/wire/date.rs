//! Dates and clock times, from the standard library alone.
//!
//! File records carry a last-modified date written `DD/MM/YY`, and the logs
//! carry a `HH:MM:SS` time stamp. The standard library knows the time only as
//! "seconds since 1970-01-01 UTC" and has no calendar and no time zones, so
//! this module turns a day count into a calendar date itself, and every date
//! and time in the system is in UTC.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar day as a file record carries it: `DD/MM/YY`.
///
/// `YY` is read as 20YY: the two-digit year is all the record format holds,
/// and it is only used to show users how fresh a copy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub day: u8,
    pub month: u8,
    /// Two-digit year, 0 to 99.
    pub year: u8,
}

impl Date {
    /// Checks that day, month and year form a real calendar day.
    pub fn new(day: u8, month: u8, year: u8) -> Option<Date> {
        let full_year = 2000 + u32::from(year);
        let valid = year <= 99
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(full_year, month);
        valid.then_some(Date { day, month, year })
    }

    /// The UTC day on which `time` falls.
    pub fn from_system_time(time: SystemTime) -> Date {
        // A time before 1970 (a badly set clock) is shown as 1970-01-01.
        let seconds = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (year, month, day) = civil_from_days(seconds / 86_400);
        Date {
            day,
            month,
            year: (year % 100) as u8,
        }
    }

    /// Parses `DD/MM/YY` (exactly two digits each).
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.split('/');
        let day = two_digits(parts.next()?)?;
        let month = two_digits(parts.next()?)?;
        let year = two_digits(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Date::new(day, month, year)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}/{:02}", self.day, self.month, self.year)
    }
}

fn two_digits(text: &str) -> Option<u8> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((bytes[0] - b'0') * 10 + (bytes[1] - b'0'))
}

fn is_leap_year(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Turns a count of days since 1970-01-01 into (year, month, day).
///
/// This is the well-known "civil from days" algorithm by Howard Hinnant: it
/// counts in 400-year eras (which always have the same number of days) and
/// starts each year in March, so that the leap day falls at the very end.
fn civil_from_days(days_since_1970: u64) -> (u32, u8, u8) {
    let z = days_since_1970 + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u8;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u8;
    let year = (era * 400 + year_of_era + u64::from(month <= 2)) as u32;
    (year, month, day)
}

/// The current UTC time of day as `HH:MM:SS`, for log lines.
pub fn clock_time() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let of_day = seconds % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, clock_time, Date};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_days_convert() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(20_821), (2027, 1, 3));
    }

    #[test]
    fn dates_from_system_time_and_back() {
        let time = UNIX_EPOCH + Duration::from_secs(20_779 * 86_400 + 3_600);
        let date = Date::from_system_time(time);
        assert_eq!(date.to_string(), "22/11/26");
        assert_eq!(Date::parse("22/11/26"), Some(date));
    }

    #[test]
    fn every_day_of_four_years_round_trips() {
        for day in 10_957..10_957 + 4 * 366 {
            let (year, month, d) = civil_from_days(day);
            let date = Date::new(d, month, (year % 100) as u8).expect("a real day");
            assert_eq!(Date::parse(&date.to_string()), Some(date));
        }
    }

    #[test]
    fn bad_dates_are_refused() {
        for bad in [
            "",
            "1/1/26",
            "01/01/2026",
            "32/01/26",
            "00/01/26",
            "01/13/26",
            "01/00/26",
            "29/02/25",
            "31/04/26",
            "aa/01/26",
            "01-01-26",
            "01/01/26/",
            "+1/01/26",
            " 1/01/26",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?} should be refused");
        }
        assert!(Date::parse("29/02/24").is_some());
    }

    #[test]
    fn clock_time_has_the_log_shape() {
        let time = clock_time();
        assert_eq!(time.len(), 8);
        assert_eq!(&time[2..3], ":");
    }
}
