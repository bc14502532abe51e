//! Calendar days of message times, for the list's day separators ("Today", "Yesterday",
//! "Tuesday 24 Nov") and the full date-time shown on hover.
//!
//! Pure arithmetic on milliseconds, the same on the server and in the browser. The server
//! cannot know the reader's zone, so it (and the browser until hydration, so both render
//! the same list) counts days in UTC; once hydrated the browser counts them in its own zone
//! through [`Calendar::local`].

/// One calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// Days since 1970-01-01: consecutive days differ by one.
    pub number: i64,
    /// The year.
    pub year: i64,
    /// 1 (January) to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 (Monday) to 6 (Sunday).
    pub weekday: u32,
}

const MS_PER_DAY: i64 = 86_400_000;
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Day {
    /// The day of a wall-clock time given as milliseconds since the epoch (already shifted
    /// into the zone it is counted in).
    pub fn of(wall_millis: i64) -> Self {
        let number = wall_millis.div_euclid(MS_PER_DAY);
        // Civil date from the day number (Howard Hinnant's algorithm).
        let z = number + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            number,
            year,
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
            // 1970-01-01 was a Thursday.
            weekday: u32::try_from((number + 3).rem_euclid(7)).unwrap_or(0),
        }
    }

    /// How a separator names this day, seen on `today`: "Today", "Yesterday", "Tuesday 24
    /// Nov" within the year, "24 Nov 2025" before it. Without a today (the server's page,
    /// whose clock the browser cannot share while it hydrates): "Tuesday 24 Nov 2026".
    pub fn label(&self, today: Option<&Day>) -> String {
        let month = MONTHS[(self.month as usize).saturating_sub(1) % 12];
        let weekday = WEEKDAYS[self.weekday as usize % 7];
        let Some(today) = today else {
            return format!("{weekday} {} {month} {}", self.day, self.year);
        };
        match today.number - self.number {
            0 => "Today".to_owned(),
            1 => "Yesterday".to_owned(),
            _ if self.year == today.year => format!("{weekday} {} {month}", self.day),
            _ => format!("{} {month} {}", self.day, self.year),
        }
    }
}

/// Which zone days are counted in, and what day it is now there.
pub struct Calendar {
    /// Minutes to add to UTC for the zone's wall clock at a given UTC instant (DST moves it).
    offset: fn(i64) -> i64,
    /// Today, in that zone; none on the server's page (see [`Day::label`]).
    pub today: Option<Day>,
}

impl Calendar {
    /// Days in UTC with no today: the server's page, and the browser's until it has
    /// hydrated (nothing in it may depend on either side's clock).
    pub fn utc() -> Self {
        Self {
            offset: |_| 0,
            today: None,
        }
    }

    /// Days in the reader's zone, relative to its today, once the page is live (in the
    /// browser); [`Calendar::utc`] before.
    pub fn local(live: bool) -> Self {
        if !live {
            return Self::utc();
        }
        let mut calendar = Self {
            offset: zone_offset_minutes,
            today: None,
        };
        calendar.today = Some(calendar.day(now_millis()));
        calendar
    }

    /// The day of a UTC instant in this calendar's zone.
    pub fn day(&self, utc_millis: i64) -> Day {
        Day::of(utc_millis + (self.offset)(utc_millis) * 60_000)
    }
}

/// Now, in milliseconds since the epoch.
#[cfg(feature = "hydrate")]
fn now_millis() -> i64 {
    js_sys::Date::now() as i64
}

/// Now, in milliseconds since the epoch.
#[cfg(not(feature = "hydrate"))]
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(0))
}

/// The browser's zone at that instant, in minutes east of UTC.
#[cfg(feature = "hydrate")]
fn zone_offset_minutes(utc_millis: i64) -> i64 {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(utc_millis as f64));
    // getTimezoneOffset is UTC minus local: west is positive.
    -(date.get_timezone_offset() as i64)
}

/// Outside the browser there is no reader's zone.
#[cfg(not(feature = "hydrate"))]
fn zone_offset_minutes(_utc_millis: i64) -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::present::millis_of;

    fn day(iso: &str) -> Day {
        Day::of(millis_of(iso).expect("a time"))
    }

    #[test]
    fn civil_dates_and_weekdays_round_trip() {
        let d = day("2026-11-24T23:59:59.999Z");
        assert_eq!((d.year, d.month, d.day, d.weekday), (2026, 11, 24, 1)); // a Tuesday
        let d = day("2024-02-29T00:00:00.000Z");
        assert_eq!((d.year, d.month, d.day, d.weekday), (2024, 2, 29, 3)); // a Thursday
        let d = day("1970-01-01T00:00:00.000Z");
        assert_eq!((d.number, d.weekday), (0, 3));
        assert_eq!(Day::of(-1).day, 31); // 1969-12-31
        for days in [-800_000_i64, -1, 0, 59, 60, 365, 10_957, 20_000, 2_000_000] {
            let d = Day::of(days * MS_PER_DAY);
            let back = millis_of(&format!(
                "{:04}-{:02}-{:02}T00:00:00Z",
                d.year, d.month, d.day
            ));
            if (0..=9999).contains(&d.year) {
                assert_eq!(back, Some(days * MS_PER_DAY), "{days}");
            }
        }
    }

    #[test]
    fn labels_read_as_people_say_them() {
        let today = Some(day("2026-12-03T10:00:00Z"));
        assert_eq!(day("2026-12-03T00:00:00Z").label(today.as_ref()), "Today");
        assert_eq!(
            day("2026-12-02T23:59:00Z").label(today.as_ref()),
            "Yesterday"
        );
        assert_eq!(
            day("2026-11-24T12:00:00Z").label(today.as_ref()),
            "Tuesday 24 Nov"
        );
        assert_eq!(
            day("2025-12-31T12:00:00Z").label(today.as_ref()),
            "31 Dec 2025"
        );
        // Across New Year, "Yesterday" still wins over the year.
        let new_year = Some(day("2027-01-01T08:00:00Z"));
        assert_eq!(
            day("2026-12-31T20:00:00Z").label(new_year.as_ref()),
            "Yesterday"
        );
        // The server's page names days in full: it cannot know the reader's today.
        assert_eq!(
            day("2026-12-03T00:00:00Z").label(None),
            "Thursday 3 Dec 2026"
        );
    }

    #[test]
    fn a_zone_moves_the_day_of_an_instant() {
        let late = millis_of("2026-12-03T23:30:00Z").expect("a time");
        let seoul = Calendar {
            offset: |_| 9 * 60,
            today: None,
        };
        assert_eq!(seoul.day(late).day, 4);
        assert_eq!(Calendar::utc().day(late).day, 3);
    }
}
