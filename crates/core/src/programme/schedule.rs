//! The event schedule policy, checked when an event is created or changed (issue 4 "Events").
//!
//! | rule | default | applies |
//! | --- | --- | --- |
//! | an event has at least one mapping | — | create, change |
//! | lead time: start ≥ now + lead time | 72 h; pilots 0 h | create; change of start, pilot flag or added mappings |
//! | drop cut-off: no mapping removed when start − now < cut-off | 24 h | change removing mappings |
//! | minimum batch size | off | create and change of a non-pilot event |
//! | start inside the tenant's availability window | 24x7 or 24x5 | create; change of start |
//!
//! Choices where the issue is silent:
//! - Adding mappings to an event is scheduling them, so it needs the lead time (a pilot's lead time for a
//!   pilot); removing mappings needs only the drop cut-off. A change that moves the start is checked against
//!   the *new* start, as if it had been made in two requests.
//! - Pilots are exempt from the minimum batch size: a pilot is a handful of mappings by nature.
//!
//! [`violations`] returns every broken rule (so a user fixes them all at once); [`check`] turns them into
//! one error.

use super::window::{AvailabilityWindow, fmt_weekday_time};
use super::{ProgrammeSettings, after, before, fmt_span, fmt_time, hours};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The schedule-relevant facts of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSchedule {
    pub pilot: bool,
    pub start: DateTime<Utc>,
    /// Mappings in the event.
    pub mappings: u32,
}

/// A create or change request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleRequest {
    Create(EventSchedule),
    Change {
        current: EventSchedule,
        proposed: EventSchedule,
        /// Mappings the change adds.
        added: u32,
        /// Mappings the change removes.
        removed: u32,
    },
}

/// One broken rule, with the numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ScheduleViolation {
    NoMappings,
    LeadTime {
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        lead_time_hours: u32,
        pilot: bool,
    },
    DropCutoff {
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        cutoff_hours: u32,
        removed: u32,
    },
    BatchTooSmall {
        mappings: u32,
        minimum: u32,
    },
    OutsideWindow {
        start: DateTime<Utc>,
        window: String,
        next_opening: DateTime<Utc>,
    },
}

impl ScheduleViolation {
    /// A short stable name (`lead_time`), for the API and tests.
    pub fn rule(&self) -> &'static str {
        match self {
            ScheduleViolation::NoMappings => "no_mappings",
            ScheduleViolation::LeadTime { .. } => "lead_time",
            ScheduleViolation::DropCutoff { .. } => "drop_cutoff",
            ScheduleViolation::BatchTooSmall { .. } => "min_batch_size",
            ScheduleViolation::OutsideWindow { .. } => "availability_window",
        }
    }
}

impl fmt::Display for ScheduleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleViolation::NoMappings => f.write_str(
                "an event needs at least one mapping (cancel the event instead of emptying it)",
            ),
            ScheduleViolation::LeadTime {
                start,
                now,
                lead_time_hours,
                pilot,
            } => {
                let kind = if *pilot {
                    "pilot events need"
                } else {
                    "events need"
                };
                write!(
                    f,
                    "the start {} is {} from now; {kind} {lead_time_hours} h lead time (earliest start: {})",
                    fmt_time(*start),
                    fmt_span(start.signed_duration_since(*now)),
                    fmt_time(after(*now, hours(*lead_time_hours)))
                )
            }
            ScheduleViolation::DropCutoff {
                start,
                now,
                cutoff_hours,
                removed,
            } => write!(
                f,
                "{removed} {} cannot be removed: the event starts {} in {}, and mappings can only be removed \
                 until {cutoff_hours} h before the start ({})",
                if *removed == 1 { "mapping" } else { "mappings" },
                fmt_time(*start),
                fmt_span(start.signed_duration_since(*now)),
                fmt_time(before(*start, hours(*cutoff_hours)))
            ),
            ScheduleViolation::BatchTooSmall { mappings, minimum } => write!(
                f,
                "the event has {mappings} {}; events need at least {minimum}",
                if *mappings == 1 {
                    "mapping"
                } else {
                    "mappings"
                }
            ),
            ScheduleViolation::OutsideWindow {
                start,
                window,
                next_opening,
            } => write!(
                f,
                "the start {} is outside the tenant's availability window {window} (next opening: {})",
                fmt_weekday_time(*start),
                fmt_weekday_time(*next_opening)
            ),
        }
    }
}

/// Every rule `request` breaks, in the order of the table above; empty when it may go ahead.
pub fn violations(
    request: &ScheduleRequest,
    window: AvailabilityWindow,
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> Vec<ScheduleViolation> {
    let (proposed, check_lead, check_window, check_batch, removed) = match *request {
        ScheduleRequest::Create(s) => (s, true, true, true, 0),
        ScheduleRequest::Change {
            current,
            proposed,
            added,
            removed,
        } => {
            let moved = proposed.start != current.start;
            let repiloted = proposed.pilot != current.pilot;
            (
                proposed,
                moved || repiloted || added > 0,
                moved,
                proposed.mappings != current.mappings || repiloted,
                removed,
            )
        }
    };
    let mut out = Vec::new();
    if proposed.mappings == 0 {
        out.push(ScheduleViolation::NoMappings);
    }
    if check_lead {
        let lead = if proposed.pilot {
            settings.pilot_lead_time_hours
        } else {
            settings.lead_time_hours
        };
        if proposed.start < after(now, hours(lead)) {
            out.push(ScheduleViolation::LeadTime {
                start: proposed.start,
                now,
                lead_time_hours: lead,
                pilot: proposed.pilot,
            });
        }
    }
    if removed > 0 && now > before(proposed.start, hours(settings.drop_cutoff_hours)) {
        out.push(ScheduleViolation::DropCutoff {
            start: proposed.start,
            now,
            cutoff_hours: settings.drop_cutoff_hours,
            removed,
        });
    }
    if check_batch
        && !proposed.pilot
        && let Some(minimum) = settings.min_batch_size
        && proposed.mappings > 0
        && proposed.mappings < minimum
    {
        out.push(ScheduleViolation::BatchTooSmall {
            mappings: proposed.mappings,
            minimum,
        });
    }
    if check_window && !window.contains(proposed.start, settings) {
        out.push(ScheduleViolation::OutsideWindow {
            start: proposed.start,
            window: window.describe(settings),
            next_opening: window.next_opening(proposed.start, settings),
        });
    }
    out
}

/// `Ok` when `request` breaks no rule, else one error listing every violation.
pub fn check(
    request: &ScheduleRequest,
    window: AvailabilityWindow,
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> Result<()> {
    let v = violations(request, window, now, settings);
    if v.is_empty() {
        return Ok(());
    }
    let what = match request {
        ScheduleRequest::Create(_) => "the event cannot be scheduled",
        ScheduleRequest::Change { .. } => "the event cannot be changed",
    };
    let rules: Vec<&str> = v.iter().map(ScheduleViolation::rule).collect();
    let reasons: Vec<String> = v.iter().map(ToString::to_string).collect();
    Err(Error::config(format!("{what}: {}", reasons.join("; ")))
        .with_context("rule", rules.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;
    use AvailabilityWindow::{AllWeek, Weekdays};

    // Monday 2025-03-03 10:00 UTC.
    fn now() -> DateTime<Utc> {
        at(2025, 3, 3, 10, 0)
    }

    fn ev(pilot: bool, start: DateTime<Utc>, mappings: u32) -> EventSchedule {
        EventSchedule {
            pilot,
            start,
            mappings,
        }
    }

    fn rules(
        req: ScheduleRequest,
        window: AvailabilityWindow,
        settings: &ProgrammeSettings,
    ) -> Vec<&'static str> {
        violations(&req, window, now(), settings)
            .iter()
            .map(|v| v.rule())
            .collect()
    }

    fn change(
        current: EventSchedule,
        proposed: EventSchedule,
        added: u32,
        removed: u32,
    ) -> ScheduleRequest {
        ScheduleRequest::Change {
            current,
            proposed,
            added,
            removed,
        }
    }

    #[test]
    fn event_three_days_ahead_is_accepted() {
        let s = ProgrammeSettings::default();
        let req = ScheduleRequest::Create(ev(false, at(2025, 3, 6, 10, 0), 20));
        assert!(rules(req, AllWeek, &s).is_empty());
        check(&req, Weekdays, now(), &s).unwrap();
    }

    #[test]
    fn event_inside_lead_time_is_refused_except_for_pilots() {
        let s = ProgrammeSettings::default();
        let start = at(2025, 3, 5, 12, 0); // 50 h ahead
        let err = check(
            &ScheduleRequest::Create(ev(false, start, 20)),
            AllWeek,
            now(),
            &s,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "the event cannot be scheduled: the start 2025-03-05 12:00 UTC is 50 h from now; events need 72 h \
             lead time (earliest start: 2025-03-06 10:00 UTC)"
        );
        // A pilot may start right now, but not in the past.
        assert!(rules(ScheduleRequest::Create(ev(true, now(), 3)), AllWeek, &s).is_empty());
        assert_eq!(
            rules(
                ScheduleRequest::Create(ev(true, at(2025, 3, 3, 9, 0), 3)),
                AllWeek,
                &s
            ),
            ["lead_time"]
        );
    }

    #[test]
    fn moving_or_adding_inside_lead_time_is_refused_but_renaming_is_not_checked() {
        let s = ProgrammeSettings::default();
        let cur = ev(false, at(2025, 3, 5, 12, 0), 20); // created earlier, now 50 h ahead
        // Unchanged start and mappings (e.g. a rename): nothing to check.
        assert!(rules(change(cur, cur, 0, 0), AllWeek, &s).is_empty());
        // Adding mappings inside the lead time is scheduling them late.
        assert_eq!(
            rules(change(cur, ev(false, cur.start, 21), 1, 0), AllWeek, &s),
            ["lead_time"]
        );
        // Moving to a start outside the lead time is fine.
        assert!(
            rules(
                change(cur, ev(false, at(2025, 3, 7, 10, 0), 20), 0, 0),
                AllWeek,
                &s
            )
            .is_empty()
        );
        // Making a pilot a production event inside the lead time is refused.
        let pilot = ev(true, at(2025, 3, 3, 12, 0), 3);
        assert_eq!(
            rules(change(pilot, ev(false, pilot.start, 3), 0, 0), AllWeek, &s),
            ["lead_time"]
        );
    }

    #[test]
    fn drop_inside_twenty_four_hours_of_start_is_refused() {
        let s = ProgrammeSettings::default();
        let cur = ev(false, at(2025, 3, 4, 9, 0), 20); // 23 h ahead
        let err = check(
            &change(cur, ev(false, cur.start, 19), 0, 1),
            AllWeek,
            now(),
            &s,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "the event cannot be changed: 1 mapping cannot be removed: the event starts 2025-03-04 09:00 UTC in \
             23 h, and mappings can only be removed until 24 h before the start (2025-03-03 09:00 UTC)"
        );
    }

    #[test]
    fn drop_before_the_cut_off_is_accepted_even_inside_lead_time() {
        let s = ProgrammeSettings::default();
        let cur = ev(false, at(2025, 3, 4, 10, 0), 20); // exactly 24 h ahead
        assert!(rules(change(cur, ev(false, cur.start, 15), 0, 5), AllWeek, &s).is_empty());
        let cur = ev(false, at(2025, 3, 5, 10, 0), 20); // 48 h ahead, inside the 72 h lead time
        assert!(rules(change(cur, ev(false, cur.start, 15), 0, 5), AllWeek, &s).is_empty());
    }

    #[test]
    fn removing_every_mapping_is_refused() {
        let s = ProgrammeSettings::default();
        let cur = ev(false, at(2025, 3, 10, 10, 0), 2);
        assert_eq!(
            rules(change(cur, ev(false, cur.start, 0), 0, 2), AllWeek, &s),
            ["no_mappings"]
        );
        assert_eq!(
            rules(
                ScheduleRequest::Create(ev(false, cur.start, 0)),
                AllWeek,
                &s
            ),
            ["no_mappings"]
        );
    }

    #[test]
    fn minimum_batch_size_is_off_by_default_and_refuses_small_batches_when_set() {
        let start = at(2025, 3, 10, 10, 0);
        let off = ProgrammeSettings::default();
        assert!(rules(ScheduleRequest::Create(ev(false, start, 1)), AllWeek, &off).is_empty());
        let on = ProgrammeSettings {
            min_batch_size: Some(10),
            ..Default::default()
        };
        let err = check(
            &ScheduleRequest::Create(ev(false, start, 9)),
            AllWeek,
            now(),
            &on,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "the event cannot be scheduled: the event has 9 mappings; events need at least 10"
        );
        assert!(rules(ScheduleRequest::Create(ev(false, start, 10)), AllWeek, &on).is_empty());
        // Pilots are exempt; dropping below the minimum is refused.
        assert!(rules(ScheduleRequest::Create(ev(true, start, 2)), AllWeek, &on).is_empty());
        let cur = ev(false, start, 10);
        assert_eq!(
            rules(change(cur, ev(false, start, 9), 0, 1), AllWeek, &on),
            ["min_batch_size"]
        );
    }

    #[test]
    fn a_24x5_window_refuses_saturday_starts() {
        let s = ProgrammeSettings::default();
        let sat = at(2025, 3, 8, 10, 0);
        let err = check(
            &ScheduleRequest::Create(ev(false, sat, 5)),
            Weekdays,
            now(),
            &s,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "the event cannot be scheduled: the start Sat 2025-03-08 10:00 UTC is outside the tenant's \
             availability window 24x5 (Mon 02:00 - Fri 24:00 UTC) (next opening: Mon 2025-03-10 02:00 UTC)"
        );
        assert!(rules(ScheduleRequest::Create(ev(false, sat, 5)), AllWeek, &s).is_empty());
        // Pilots respect the window too.
        assert_eq!(
            rules(ScheduleRequest::Create(ev(true, sat, 2)), Weekdays, &s),
            ["availability_window"]
        );
        // Moving into the weekend is refused; a change that keeps a start does not re-check the window.
        let cur = ev(false, at(2025, 3, 7, 10, 0), 5);
        assert_eq!(
            rules(change(cur, ev(false, sat, 5), 0, 0), Weekdays, &s),
            ["availability_window"]
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let s = ProgrammeSettings {
            min_batch_size: Some(5),
            ..Default::default()
        };
        let req = ScheduleRequest::Create(ev(false, at(2025, 3, 3, 1, 0), 1)); // Mon 01:00, in the past
        assert_eq!(
            rules(req, Weekdays, &s),
            ["lead_time", "min_batch_size", "availability_window"]
        );
        let err = check(&req, Weekdays, now(), &s).unwrap_err();
        assert_eq!(
            err.context()[0],
            (
                "rule",
                "lead_time,min_batch_size,availability_window".to_string()
            )
        );
        assert!(err.message().contains("is -9 h from now"), "{err}");
    }

    #[test]
    fn lead_time_and_cut_off_are_settings() {
        let s = ProgrammeSettings {
            lead_time_hours: 0,
            drop_cutoff_hours: 0,
            ..Default::default()
        };
        let cur = ev(false, at(2025, 3, 3, 11, 0), 5);
        assert!(rules(ScheduleRequest::Create(cur), AllWeek, &s).is_empty());
        assert!(rules(change(cur, ev(false, cur.start, 4), 0, 1), AllWeek, &s).is_empty());
    }
}
