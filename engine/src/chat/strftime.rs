//! `strftime_now(format)` for chat templates (LLaMA 3.1 prints today's date in its system
//! header). Time is UTC: a server's prompt must not depend on the host's time zone.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday.
    weekday: u32,
    /// 1-based day of the year.
    yday: u32,
}

fn civil(t: SystemTime) -> Civil {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 → proleptic Gregorian date (era-based conversion).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][month as usize - 1];
    let yday = before + day + u32::from(leap && month > 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem / 60 % 60) as u32,
        second: (rem % 60) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 3).rem_euclid(7) as u32,
        yday,
    }
}

/// Formats `t` (UTC) with the C/Python `strftime` directives templates use:
/// `%Y %y %m %d %e %j %B %b %h %A %a %H %I %M %S %p %F %T %D %%`. Others are kept as written.
pub fn strftime(t: SystemTime, format: &str) -> String {
    let c = civil(t);
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let month = MONTHS[c.month as usize - 1];
        let weekday = WEEKDAYS[c.weekday as usize];
        let _ = match chars.next() {
            Some('Y') => write!(out, "{}", c.year),
            Some('y') => write!(out, "{:02}", c.year.rem_euclid(100)),
            Some('m') => write!(out, "{:02}", c.month),
            Some('d') => write!(out, "{:02}", c.day),
            Some('e') => write!(out, "{:>2}", c.day),
            Some('j') => write!(out, "{:03}", c.yday),
            Some('B') => write!(out, "{month}"),
            Some('b' | 'h') => write!(out, "{}", &month[..3]),
            Some('A') => write!(out, "{weekday}"),
            Some('a') => write!(out, "{}", &weekday[..3]),
            Some('H') => write!(out, "{:02}", c.hour),
            Some('I') => write!(out, "{:02}", (c.hour + 11) % 12 + 1),
            Some('M') => write!(out, "{:02}", c.minute),
            Some('S') => write!(out, "{:02}", c.second),
            Some('p') => write!(out, "{}", if c.hour < 12 { "AM" } else { "PM" }),
            Some('F') => write!(out, "{}-{:02}-{:02}", c.year, c.month, c.day),
            Some('T') => write!(out, "{:02}:{:02}:{:02}", c.hour, c.minute, c.second),
            Some('D') => write!(
                out,
                "{:02}/{:02}/{:02}",
                c.month,
                c.day,
                c.year.rem_euclid(100)
            ),
            Some('%') => write!(out, "%"),
            Some(other) => write!(out, "%{other}"),
            None => write!(out, "%"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strftime;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_known_instants() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            strftime(at(0), "%Y-%m-%d %H:%M:%S %a"),
            "1970-01-01 00:00:00 Thu"
        );
        // 2024-02-29 13:05:09 UTC, a leap day (Thursday, day 60).
        assert_eq!(
            strftime(at(1_709_211_909), "%d %b %Y|%A|%j|%I%p|%F %T|%%|%q"),
            "29 Feb 2024|Thursday|060|01PM|2024-02-29 13:05:09|%|%q"
        );
        // 2026-11-27 00:00:00 UTC.
        assert_eq!(
            strftime(at(1_795_737_600), "%d %B %Y %e"),
            "27 November 2026 27"
        );
    }
}
