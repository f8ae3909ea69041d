//! The ticket reporting window (issue 4 "Tickets", DESIGN §1 "Ticket").
//!
//! A ticket reports a post-migration issue against a mapping. It is accepted from the moment the mapping's
//! event completed until `ticket_window_days` (default 5) days later, both ends included; after that it is
//! refused with the reason and the date the window closed.
//!
//! Choices where the issue is silent:
//! - **Before completion** a ticket is refused too: until its event completed a mapping is still being
//!   migrated, its problems show in the event's live report, and failed items are retried by the passes
//!   still to come. The refusal says so.
//! - **Which event**: a mapping can be in several events (Synchronization, then Completion). The window runs
//!   from the completion of the *latest* completed event that included the mapping — the caller passes that
//!   time — so the Completion event's completion opens a fresh window.

use super::{ProgrammeSettings, after, days, fmt_time};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// When tickets against a mapping are accepted: `opens ..= closes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketWindow {
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
}

impl TicketWindow {
    /// The window that opened when the mapping's event completed at `completed_at`.
    pub fn after_completion(completed_at: DateTime<Utc>, settings: &ProgrammeSettings) -> Self {
        TicketWindow {
            opens: completed_at,
            closes: after(completed_at, days(settings.ticket_window_days)),
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.opens <= t && t <= self.closes
    }
}

/// Accept (returning the window) or refuse a ticket reported at `now` against a mapping whose latest
/// completed event completed at `event_completed_at` (`None`: no event of the mapping has completed).
pub fn check_ticket(
    event_completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> Result<TicketWindow> {
    let n = settings.ticket_window_days;
    let Some(completed_at) = event_completed_at else {
        return Err(Error::config(format!(
            "tickets are accepted once the mapping's event has completed, for {n} days; this mapping's event \
             has not completed yet: see its live report, and failed items are retried by the passes to come"
        ))
        .with_context("rule", "ticket_window"));
    };
    let window = TicketWindow::after_completion(completed_at, settings);
    if now < window.opens {
        return Err(Error::config(format!(
            "tickets are accepted from {} when the mapping's event completed",
            fmt_time(window.opens)
        ))
        .with_context("rule", "ticket_window"));
    }
    if now > window.closes {
        return Err(Error::config(format!(
            "the reporting window closed on {}: tickets are accepted for {n} days after the mapping's event \
             completed ({}), and it is {} days since",
            fmt_time(window.closes),
            fmt_time(completed_at),
            now.signed_duration_since(completed_at).num_days()
        ))
        .with_context("rule", "ticket_window"));
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;

    fn s() -> ProgrammeSettings {
        ProgrammeSettings::default()
    }

    #[test]
    fn ticket_within_five_days_is_accepted() {
        let done = at(2025, 3, 10, 12, 0);
        for now in [done, at(2025, 3, 12, 9, 0), at(2025, 3, 15, 12, 0)] {
            let w = check_ticket(Some(done), now, &s()).unwrap();
            assert_eq!(
                w,
                TicketWindow {
                    opens: done,
                    closes: at(2025, 3, 15, 12, 0)
                }
            );
        }
    }

    #[test]
    fn ticket_after_five_days_is_refused_with_the_reason() {
        let err =
            check_ticket(Some(at(2025, 3, 10, 12, 0)), at(2025, 3, 15, 12, 1), &s()).unwrap_err();
        assert_eq!(
            err.message(),
            "the reporting window closed on 2025-03-15 12:00 UTC: tickets are accepted for 5 days after the \
             mapping's event completed (2025-03-10 12:00 UTC), and it is 5 days since"
        );
    }

    #[test]
    fn ticket_before_the_event_completed_is_refused_with_the_reason() {
        let err = check_ticket(None, at(2025, 3, 10, 12, 0), &s()).unwrap_err();
        assert!(err.message().contains("has not completed yet"), "{err}");
        let err =
            check_ticket(Some(at(2025, 3, 10, 12, 0)), at(2025, 3, 10, 11, 0), &s()).unwrap_err();
        assert!(
            err.message().contains("accepted from 2025-03-10 12:00 UTC"),
            "{err}"
        );
    }

    #[test]
    fn the_reporting_window_is_a_setting() {
        let ten = ProgrammeSettings {
            ticket_window_days: 10,
            ..s()
        };
        assert!(check_ticket(Some(at(2025, 3, 10, 12, 0)), at(2025, 3, 19, 12, 0), &ten).is_ok());
        assert!(check_ticket(Some(at(2025, 3, 10, 12, 0)), at(2025, 3, 19, 12, 0), &s()).is_err());
    }
}
