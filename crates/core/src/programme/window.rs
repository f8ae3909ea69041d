//! A tenant's availability window: when its events may start (issue 4 "Tenant", "Events").
//!
//! `24x7` is any time; `24x5` is a weekly span in UTC, by default Monday 02:00 to Friday 24:00, itself a
//! setting ([`ProgrammeSettings::weekday_window`]) written like `{"start": "Mon 02:00", "end": "Fri 24:00"}`.
//! Only the start of an event must be inside the window: a started event runs to its end.

use super::{ProgrammeSettings, fmt_time};
use crate::{Error, Result};
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// When a tenant's events may start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AvailabilityWindow {
    /// Any time.
    #[default]
    #[serde(rename = "24x7")]
    AllWeek,
    /// Weekdays: [`ProgrammeSettings::weekday_window`] (default Mon 02:00 → Fri 24:00 UTC).
    #[serde(rename = "24x5")]
    Weekdays,
}

impl AvailabilityWindow {
    pub fn as_str(self) -> &'static str {
        match self {
            AvailabilityWindow::AllWeek => "24x7",
            AvailabilityWindow::Weekdays => "24x5",
        }
    }

    /// Whether an event may start at `t`.
    pub fn contains(self, t: DateTime<Utc>, settings: &ProgrammeSettings) -> bool {
        match self {
            AvailabilityWindow::AllWeek => true,
            AvailabilityWindow::Weekdays => settings.weekday_window.contains(t),
        }
    }

    /// The first instant at or after `t` inside the window.
    pub fn next_opening(self, t: DateTime<Utc>, settings: &ProgrammeSettings) -> DateTime<Utc> {
        match self {
            AvailabilityWindow::AllWeek => t,
            AvailabilityWindow::Weekdays => settings.weekday_window.next_opening(t),
        }
    }

    /// `24x5 (Mon 02:00 - Fri 24:00 UTC)`, for messages.
    pub fn describe(self, settings: &ProgrammeSettings) -> String {
        match self {
            AvailabilityWindow::AllWeek => "24x7".to_string(),
            AvailabilityWindow::Weekdays => format!("24x5 ({} UTC)", settings.weekday_window),
        }
    }
}

impl FromStr for AvailabilityWindow {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "24x7" => Ok(AvailabilityWindow::AllWeek),
            "24x5" => Ok(AvailabilityWindow::Weekdays),
            other => Err(Error::config(format!(
                "unknown availability window {other:?}: use 24x7 or 24x5"
            ))),
        }
    }
}

const MINUTES_PER_DAY: u32 = 24 * 60;
const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;

/// A moment of the week in UTC, written `Mon 02:00`; `Fri 24:00` is the end of Friday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeekTime {
    pub day: Weekday,
    /// Minutes after the day's midnight, 0 ..= 1440.
    pub minute: u32,
}

impl WeekTime {
    /// Minutes since Monday 00:00, 0 ..= 10080.
    fn minute_of_week(self) -> u32 {
        self.day.num_days_from_monday() * MINUTES_PER_DAY + self.minute
    }
}

impl fmt::Display for WeekTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}",
            self.day,
            self.minute / 60,
            self.minute % 60
        )
    }
}

impl FromStr for WeekTime {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(format!(
                "not a time of the week {s:?}: write it like \"Mon 02:00\""
            ))
        };
        let (day, time) = s.trim().split_once(' ').ok_or_else(bad)?;
        let day: Weekday = day.parse().map_err(|_| bad())?;
        let (h, m) = time.trim().split_once(':').ok_or_else(bad)?;
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(WeekTime {
            day,
            minute: h * 60 + m,
        })
    }
}

impl TryFrom<String> for WeekTime {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<WeekTime> for String {
    fn from(t: WeekTime) -> String {
        t.to_string()
    }
}

/// A weekly span `[start, end)` in UTC. When `end` comes before `start` in the week the span wraps over
/// Sunday night; when they are equal it is the whole week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklySpan {
    pub start: WeekTime,
    pub end: WeekTime,
}

impl Default for WeeklySpan {
    /// Mon 02:00 → Fri 24:00.
    fn default() -> Self {
        WeeklySpan {
            start: WeekTime {
                day: Weekday::Mon,
                minute: 2 * 60,
            },
            end: WeekTime {
                day: Weekday::Fri,
                minute: MINUTES_PER_DAY,
            },
        }
    }
}

impl fmt::Display for WeeklySpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} - {}", self.start, self.end)
    }
}

fn minute_of_week(t: DateTime<Utc>) -> u32 {
    t.weekday().num_days_from_monday() * MINUTES_PER_DAY + t.hour() * 60 + t.minute()
}

impl WeeklySpan {
    /// Whether `t` is inside the span.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let m = minute_of_week(t);
        let s = self.start.minute_of_week() % MINUTES_PER_WEEK;
        let e = self.end.minute_of_week();
        let e = if e > MINUTES_PER_WEEK {
            e % MINUTES_PER_WEEK
        } else {
            e
        };
        if s < e {
            s <= m && m < e
        } else {
            m >= s || m < e
        }
    }

    /// The first instant at or after `t` inside the span.
    pub fn next_opening(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(t) {
            return t;
        }
        let m = minute_of_week(t);
        let s = self.start.minute_of_week() % MINUTES_PER_WEEK;
        let wait = (s + MINUTES_PER_WEEK - m) % MINUTES_PER_WEEK;
        let minute_start = t
            .with_second(0)
            .and_then(|x| x.with_nanosecond(0))
            .unwrap_or(t);
        super::after(minute_start, TimeDelta::minutes(i64::from(wait)))
    }
}

/// `t` for messages, with its weekday: `Sat 2025-03-08 10:00 UTC`.
pub(crate) fn fmt_weekday_time(t: DateTime<Utc>) -> String {
    format!("{} {}", t.weekday(), fmt_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;

    #[test]
    fn a_24x7_window_accepts_any_start() {
        let s = ProgrammeSettings::default();
        let sat = at(2025, 3, 8, 3, 0);
        assert!(AvailabilityWindow::AllWeek.contains(sat, &s));
        assert_eq!(AvailabilityWindow::AllWeek.next_opening(sat, &s), sat);
    }

    #[test]
    fn a_24x5_window_accepts_monday_two_am_to_friday_midnight() {
        let s = ProgrammeSettings::default();
        let w = AvailabilityWindow::Weekdays;
        assert!(w.contains(at(2025, 3, 3, 2, 0), &s), "Mon 02:00");
        assert!(w.contains(at(2025, 3, 5, 13, 0), &s), "Wed 13:00");
        assert!(w.contains(at(2025, 3, 7, 23, 59), &s), "Fri 23:59");
        assert!(!w.contains(at(2025, 3, 3, 1, 59), &s), "Mon 01:59");
        assert!(!w.contains(at(2025, 3, 9, 12, 0), &s), "Sun 12:00");
    }

    #[test]
    fn a_24x5_window_refuses_saturday_starts() {
        let s = ProgrammeSettings::default();
        let w = AvailabilityWindow::Weekdays;
        assert!(
            !w.contains(at(2025, 3, 8, 0, 0), &s),
            "Sat 00:00 is Fri 24:00, the end"
        );
        assert!(!w.contains(at(2025, 3, 8, 10, 0), &s));
        assert_eq!(
            w.next_opening(at(2025, 3, 8, 10, 0), &s),
            at(2025, 3, 10, 2, 0)
        );
        assert_eq!(w.describe(&s), "24x5 (Mon 02:00 - Fri 24:00 UTC)");
    }

    #[test]
    fn a_span_over_sunday_night_wraps() {
        let span = WeeklySpan {
            start: "Sun 22:00".parse().unwrap(),
            end: "Fri 22:00".parse().unwrap(),
        };
        assert!(span.contains(at(2025, 3, 9, 23, 0)), "Sun 23:00");
        assert!(span.contains(at(2025, 3, 3, 0, 30)), "Mon 00:30");
        assert!(!span.contains(at(2025, 3, 7, 22, 0)), "Fri 22:00");
        assert_eq!(
            span.next_opening(at(2025, 3, 8, 5, 17)),
            at(2025, 3, 9, 22, 0)
        );
    }

    #[test]
    fn week_times_parse_and_refuse_nonsense() {
        assert_eq!(
            "Fri 24:00".parse::<WeekTime>().unwrap().to_string(),
            "Fri 24:00"
        );
        assert_eq!(
            "mon 2:05".parse::<WeekTime>().unwrap().to_string(),
            "Mon 02:05"
        );
        for bad in [
            "Fri 24:01",
            "Mon 25:00",
            "Mon 02:60",
            "Funday 02:00",
            "Mon",
            "Mon 0200",
        ] {
            assert!(bad.parse::<WeekTime>().is_err(), "{bad}");
        }
        assert!("24x6".parse::<AvailabilityWindow>().is_err());
        assert_eq!(
            "24x5".parse::<AvailabilityWindow>().unwrap(),
            AvailabilityWindow::Weekdays
        );
        let json = serde_json::to_string(&AvailabilityWindow::Weekdays).unwrap();
        assert_eq!(json, "\"24x5\"");
    }
}
