//! The migration programme's rules (issue 4, DESIGN §1), as plain data and pure functions.
//!
//! Everything a managed migration benefit decides *around* the data moves lives here: who is eligible
//! ([`tenant`]) and when its events may start ([`window`]), which work is in scope ([`scope`]), the project
//! and event lifecycles ([`project`], [`event`]), which pass runs when ([`pass`]), the prerequisites that
//! gate events ([`gate`]), the schedule policy ([`schedule`]), the ticket reporting window ([`ticket`]),
//! pause/offboard/close ([`lifecycle`]), who may do what ([`role`]) and the status of asynchronous requests
//! ([`transaction`]).
//!
//! # Why pure
//! The store, the server and the scheduler all enforce these rules; keeping them free of I/O means each rule
//! is written once, tested on both its allowed and its refused side without a database, and the server only
//! loads data, calls a function and stores what it returns. Time is always a parameter (`now`): the
//! scheduler's clock is injectable, so tests move time instead of sleeping.
//!
//! # One settings struct
//! Every number a rule uses is a field of [`ProgrammeSettings`], whose `Default` is the issue's default and
//! which deserialises from a partial config (missing fields keep their default). Operators' documentation
//! with one line per rule: `docs/programme.md`.
//!
//! ```
//! use ferry_core::programme::{ProgrammeSettings, AvailabilityWindow, Tier};
//! use ferry_core::programme::tenant::{Cloud, Plan, Seats, Tenant};
//! let tenant = Tenant {
//!     name: "Contoso".into(),
//!     plan: Plan::Commercial,
//!     seats: Seats { paid: 320, trial: 1_000, ..Seats::default() },
//!     first_purchase: "2019-04-01".parse().unwrap(),
//!     cloud: Cloud::Commercial,
//!     window: AvailabilityWindow::Weekdays,
//! };
//! let decision = tenant.eligibility(&ProgrammeSettings::default());
//! assert_eq!(decision.tier, Tier::GuidanceOnly);
//! assert!(decision.notice().unwrap().starts_with("Self-service"));
//! //! ```

pub mod event;
pub mod gate;
pub mod lifecycle;
pub mod pass;
pub mod project;
pub mod role;
pub mod schedule;
pub mod scope;
pub mod tenant;
pub mod ticket;
pub mod transaction;
pub mod window;

pub use event::{EventKind, EventState};
pub use gate::{GateKind, GateStatus};
pub use pass::{PassDecision, PassKind};
pub use project::{ProjectState, SourceSystem, Workload};
pub use role::{Permission, Role, allowed};
pub use tenant::{Eligibility, Tenant, Tier};
pub use transaction::TransactionStatus;
pub use window::AvailabilityWindow;

use crate::grade::GradePolicy;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use window::WeeklySpan;

/// Every value the programme's rules use, with the issue's defaults.
///
/// Deserialises from a partial document: a missing field keeps its default, an unknown field is an error
/// (a misspelt setting must not silently fall back to its default).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgrammeSettings {
    // --- eligibility -------------------------------------------------------------------------------------
    /// Eligible seats needed for the data-migration service (default 500).
    pub data_migration_min_seats: u32,
    /// Eligible seats needed for the data-migration service when the plan was first bought before
    /// [`legacy_purchase_before`](Self::legacy_purchase_before) (default 150).
    pub legacy_data_migration_min_seats: u32,
    /// Cut-off date of the legacy threshold: first purchases strictly before it (default 2017-09-01).
    pub legacy_purchase_before: NaiveDate,
    /// Eligible seats needed for the guidance-only (self-service) tier (default 150).
    pub guidance_min_seats: u32,

    // --- schedule policy ---------------------------------------------------------------------------------
    /// Hours between now and an event's start, at least (default 72 = 3 days).
    pub lead_time_hours: u32,
    /// Lead time for pilot events (default 0: a pilot may start now).
    pub pilot_lead_time_hours: u32,
    /// Mappings cannot be removed from an event within this many hours before its start (default 24).
    pub drop_cutoff_hours: u32,
    /// Smallest number of mappings in a non-pilot event (default off).
    pub min_batch_size: Option<u32>,
    /// What a tenant's `24x5` availability window means (default `Mon 02:00` – `Fri 24:00` UTC).
    pub weekday_window: WeeklySpan,

    // --- passes ------------------------------------------------------------------------------------------
    /// Hours between the starts of two Delta passes of a Synchronization event (default 24).
    pub delta_cadence_hours: u32,
    /// Consecutive attempts of a pass per mapping per event before the mapping is Failed (default 2).
    pub max_attempts_per_mapping: u32,
    /// Thresholds of the consistency grade (default: 0.1 % → Good, 2 % → Investigate).
    pub grade: GradePolicy,
    /// Passes of one tenant running at once across every worker of the store (default: no cap); a
    /// worker refuses a pass beyond it and the queue brings the pass back a heartbeat later.
    pub tenant_pass_cap: Option<u32>,
    /// A server's wait (`Retry-After`, Exchange's "Suggested Backoff Time") longer than this many seconds
    /// is not slept in the pass: the pass stops at a checkpoint, gives its worker slot back and is queued
    /// again to resume after the wait, without using an attempt (default 60). Shorter waits are slept.
    pub max_wait_in_pass_secs: u64,

    // --- tickets -----------------------------------------------------------------------------------------
    /// Days after a mapping's event completed during which tickets are accepted (default 5).
    pub ticket_window_days: u32,

    // --- pause and offboarding ---------------------------------------------------------------------------
    /// Days without progress before a project is paused (default 30).
    pub pause_after_days: u32,
    /// Days paused without a confirmed schedule before a project is offboarded (default 30).
    pub offboard_after_days: u32,

    // --- enforced elsewhere, set here so all programme settings live in one place -----------------------
    /// Days a stored credential stays valid (default 70); see [`ProgrammeSettings::credential_expires_at`].
    pub credential_expiry_days: u32,
    /// Rows one mapping import may hold (default 50,000).
    pub max_mapping_rows: u32,
    /// Assessment: a mailbox over this fraction of the target quota is flagged (default 0.85).
    pub preflight_quota_fraction: f64,
    /// Assessment: a mailbox with more items than this is flagged (default 500,000).
    pub preflight_max_items: u64,
    /// Mail: messages larger than this many bytes are Skipped with the reason, unless an endpoint's
    /// `max_message_size` option is smaller (default 35 MB, Exchange Online's IMAP migration limit).
    pub max_message_size: u64,
}

/// 2017-09-01, checked at compile time.
const LEGACY_PURCHASE_BEFORE: NaiveDate = match NaiveDate::from_ymd_opt(2017, 9, 1) {
    Some(d) => d,
    None => panic!("2017-09-01 is a date"),
};

impl Default for ProgrammeSettings {
    fn default() -> Self {
        ProgrammeSettings {
            data_migration_min_seats: 500,
            legacy_data_migration_min_seats: 150,
            legacy_purchase_before: LEGACY_PURCHASE_BEFORE,
            guidance_min_seats: 150,
            lead_time_hours: 72,
            pilot_lead_time_hours: 0,
            drop_cutoff_hours: 24,
            min_batch_size: None,
            weekday_window: WeeklySpan::default(),
            delta_cadence_hours: 24,
            max_attempts_per_mapping: 2,
            grade: GradePolicy::default(),
            tenant_pass_cap: None,
            max_wait_in_pass_secs: 60,
            ticket_window_days: 5,
            pause_after_days: 30,
            offboard_after_days: 30,
            credential_expiry_days: 70,
            max_mapping_rows: 50_000,
            preflight_quota_fraction: 0.85,
            preflight_max_items: 500_000,
            max_message_size: crate::limits::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl ProgrammeSettings {
    /// Check values serde cannot: every problem is an error naming the setting and what it takes
    /// (a settings file is refused at start, not half applied).
    pub fn validate(&self) -> crate::Result<()> {
        let at_least_one: [(&str, u64); 10] = [
            (
                "data_migration_min_seats",
                u64::from(self.data_migration_min_seats),
            ),
            ("delta_cadence_hours", u64::from(self.delta_cadence_hours)),
            (
                "max_attempts_per_mapping",
                u64::from(self.max_attempts_per_mapping),
            ),
            ("pause_after_days", u64::from(self.pause_after_days)),
            ("offboard_after_days", u64::from(self.offboard_after_days)),
            (
                "credential_expiry_days",
                u64::from(self.credential_expiry_days),
            ),
            ("max_mapping_rows", u64::from(self.max_mapping_rows)),
            ("preflight_max_items", self.preflight_max_items),
            ("max_message_size", self.max_message_size),
            ("max_wait_in_pass_secs", self.max_wait_in_pass_secs),
        ];
        for (name, v) in at_least_one {
            if v == 0 {
                return Err(crate::Error::config(format!(
                    "setting {name} = 0: it takes a whole number of at least 1"
                )));
            }
        }
        if self.tenant_pass_cap == Some(0) {
            return Err(crate::Error::config(
                "setting tenant_pass_cap = 0: leave it out for no cap, or give at least 1",
            ));
        }
        if self.min_batch_size == Some(0) {
            return Err(crate::Error::config(
                "setting min_batch_size = 0: leave it out for no minimum, or give at least 1",
            ));
        }
        if self.guidance_min_seats > self.data_migration_min_seats {
            return Err(crate::Error::config(format!(
                "setting guidance_min_seats = {} is above data_migration_min_seats = {}: the guidance tier starts lower",
                self.guidance_min_seats, self.data_migration_min_seats
            )));
        }
        let fraction = |name: &str, v: f64, zero_ok: bool| {
            if v.is_finite() && v <= 1.0 && (v > 0.0 || (zero_ok && v == 0.0)) {
                Ok(())
            } else {
                Err(crate::Error::config(format!(
                    "setting {name} = {v}: it takes a fraction {} 0 and at most 1 (0.85 is 85 %)",
                    if zero_ok { "from" } else { "above" }
                )))
            }
        };
        fraction(
            "preflight_quota_fraction",
            self.preflight_quota_fraction,
            false,
        )?;
        fraction(
            "grade.good_max_fraction",
            self.grade.good_max_fraction,
            true,
        )?;
        fraction(
            "grade.investigate_max_fraction",
            self.grade.investigate_max_fraction,
            true,
        )?;
        if self.grade.good_max_fraction > self.grade.investigate_max_fraction {
            return Err(crate::Error::config(
                "setting grade.good_max_fraction is above grade.investigate_max_fraction: Good must be the stricter",
            ));
        }
        Ok(())
    }

    /// When a credential supplied at `supplied_at` expires.
    pub fn credential_expires_at(&self, supplied_at: DateTime<Utc>) -> DateTime<Utc> {
        after(supplied_at, days(self.credential_expiry_days))
    }
}

/// `h` hours.
pub(crate) fn hours(h: u32) -> TimeDelta {
    TimeDelta::hours(i64::from(h))
}

/// `d` days.
pub(crate) fn days(d: u32) -> TimeDelta {
    TimeDelta::days(i64::from(d))
}

/// `t + d`, saturating at the end of time: settings come from operators, and a huge value must mean
/// "never", not a panic.
pub(crate) fn after(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the beginning of time.
pub(crate) fn before(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A time as reports print it: `2025-03-03 10:00 UTC`.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration in whole hours when it is one, else hours and minutes: `50 h`, `49 h 30 min`.
pub(crate) fn fmt_span(d: TimeDelta) -> String {
    let minutes = d.num_minutes();
    let (h, m) = (minutes / 60, minutes % 60);
    if m == 0 {
        format!("{h} h")
    } else {
        format!("{h} h {} min", m.abs())
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use chrono::{DateTime, TimeZone, Utc};

    /// A UTC time from its parts. 2025-03-03 is a Monday.
    pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid test time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issues_defaults() {
        let s = ProgrammeSettings::default();
        assert_eq!(s.data_migration_min_seats, 500);
        assert_eq!(s.legacy_data_migration_min_seats, 150);
        assert_eq!(s.legacy_purchase_before.to_string(), "2017-09-01");
        assert_eq!(s.guidance_min_seats, 150);
        assert_eq!(s.lead_time_hours, 72);
        assert_eq!(s.pilot_lead_time_hours, 0);
        assert_eq!(s.drop_cutoff_hours, 24);
        assert_eq!(s.min_batch_size, None);
        assert_eq!(s.weekday_window.to_string(), "Mon 02:00 - Fri 24:00");
        assert_eq!(s.delta_cadence_hours, 24);
        assert_eq!(s.max_attempts_per_mapping, 2);
        assert_eq!(s.ticket_window_days, 5);
        assert_eq!(s.pause_after_days, 30);
        assert_eq!(s.offboard_after_days, 30);
        assert_eq!(s.credential_expiry_days, 70);
        assert_eq!(s.max_mapping_rows, 50_000);
        assert_eq!(s.preflight_quota_fraction, 0.85);
        assert_eq!(s.preflight_max_items, 500_000);
        assert_eq!(s.max_message_size, 35 * 1024 * 1024);
        assert_eq!(s.max_wait_in_pass_secs, 60);
    }

    #[test]
    fn a_partial_settings_document_keeps_the_other_defaults() {
        let s: ProgrammeSettings = serde_json::from_str(
            r#"{"lead_time_hours": 24, "min_batch_size": 10, "weekday_window": {"start": "Mon 06:00", "end": "Fri 18:00"}}"#,
        )
        .unwrap();
        assert_eq!(s.lead_time_hours, 24);
        assert_eq!(s.min_batch_size, Some(10));
        assert_eq!(s.weekday_window.to_string(), "Mon 06:00 - Fri 18:00");
        assert_eq!(s.drop_cutoff_hours, 24);
        let json = serde_json::to_value(&s).unwrap();
        let round: ProgrammeSettings = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&round).unwrap(), json);
    }

    #[test]
    fn a_misspelt_setting_is_refused() {
        let e = serde_json::from_str::<ProgrammeSettings>(r#"{"lead_time_hour": 24}"#).unwrap_err();
        assert!(e.to_string().contains("lead_time_hour"), "{e}");
    }

    #[test]
    fn the_defaults_are_valid_and_impossible_values_are_refused_by_name() {
        assert!(ProgrammeSettings::default().validate().is_ok());
        let zero = ProgrammeSettings {
            max_attempts_per_mapping: 0,
            ..ProgrammeSettings::default()
        };
        let e = zero.validate().unwrap_err();
        assert!(e.to_string().contains("max_attempts_per_mapping"), "{e}");
        let mut g = ProgrammeSettings::default();
        g.grade.good_max_fraction = 0.5;
        let e = g.validate().unwrap_err();
        assert!(e.to_string().contains("good_max_fraction"), "{e}");
        let q = ProgrammeSettings {
            preflight_quota_fraction: 85.0,
            ..ProgrammeSettings::default()
        };
        let e = q.validate().unwrap_err();
        assert!(e.to_string().contains("preflight_quota_fraction"), "{e}");
        let w = ProgrammeSettings {
            max_wait_in_pass_secs: 0,
            ..ProgrammeSettings::default()
        };
        let e = w.validate().unwrap_err();
        assert!(e.to_string().contains("max_wait_in_pass_secs"), "{e}");
        // A partial grade table keeps the other threshold; a misspelt one is refused.
        let s: ProgrammeSettings =
            serde_json::from_str(r#"{"grade": {"good_max_fraction": 0.0}}"#).unwrap();
        assert_eq!(s.grade.investigate_max_fraction, 0.02);
        assert!(serde_json::from_str::<ProgrammeSettings>(r#"{"grade": {"good": 0.0}}"#).is_err());
    }

    #[test]
    fn credentials_expire_after_seventy_days() {
        let s = ProgrammeSettings::default();
        let t = testutil::at(2025, 3, 3, 10, 0);
        assert_eq!(s.credential_expires_at(t), testutil::at(2025, 5, 12, 10, 0));
    }

    #[test]
    fn huge_settings_saturate_instead_of_panicking() {
        let t = testutil::at(2025, 3, 3, 10, 0);
        assert_eq!(after(t, days(u32::MAX)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(before(t, days(u32::MAX)), DateTime::<Utc>::MIN_UTC);
    }
}
