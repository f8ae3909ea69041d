//! A tenant — the customer organisation — and the eligibility decision made from its seats (issue 4
//! "Tenant", "Eligibility"). Its availability window is in [`super::window`].
//!
//! Eligibility counts *eligible* seats: trial seats never count; on an education plan only paid
//! faculty/staff seats count (student seats don't, nor do other seats); on a commercial plan paid seats
//! count. Then:
//!
//! | eligible seats | tier |
//! | --- | --- |
//! | ≥ 500 (≥ 150 when first purchased before 2017-09-01) | [`Tier::DataMigration`] |
//! | 150 – 499 | [`Tier::GuidanceOnly`]: Ferry runs in self-service mode and says so in every report |
//! | < 150 | [`Tier::NotEligible`], with the explanation |
//!
//! The decision carries its reasons as sentences with the numbers, so the API and the CLI show the same
//! explanation that the rule used.

pub use super::window::AvailabilityWindow;

use super::ProgrammeSettings;
use crate::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The tenant's facts the programme's rules read. The store keys it by [`crate::id::TenantId`].
/// Unknown fields are refused: `POST /api/v1/tenants` takes this shape, and a misspelt field must not be
/// dropped silently (issue 9, item 13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    pub plan: Plan,
    pub seats: Seats,
    /// The day the plan was first bought (decides the legacy threshold).
    pub first_purchase: NaiveDate,
    pub cloud: Cloud,
    /// When events may start.
    pub window: AvailabilityWindow,
}

/// The kind of subscription: decides which seats count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Business and enterprise plans: paid seats count.
    Commercial,
    /// Education plans: only paid faculty/staff seats count.
    Education,
}

/// Which Microsoft 365 cloud the tenant lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    Commercial,
    Government,
}

/// Seats by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seats {
    /// Paid seats of a commercial plan.
    pub paid: u32,
    /// Trial seats: never count.
    pub trial: u32,
    /// Paid education seats for faculty and staff (free faculty licences are not entered here).
    pub faculty_staff: u32,
    /// Education seats for students: never count.
    pub students: u32,
}

/// The service a tenant gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The full data-migration service.
    DataMigration,
    /// Guidance and tooling only: Ferry runs in self-service mode and every report says so.
    GuidanceOnly,
    /// Not eligible for the programme.
    NotEligible,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::DataMigration => "data_migration",
            Tier::GuidanceOnly => "guidance_only",
            Tier::NotEligible => "not_eligible",
        }
    }

    /// Projects of this tier run in self-service mode.
    pub fn is_self_service(self) -> bool {
        self == Tier::GuidanceOnly
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The eligibility decision and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    pub tier: Tier,
    /// Seats that counted.
    pub eligible_seats: u32,
    /// Eligible seats the data-migration service needs for this tenant (500, or 150 for legacy purchases).
    pub data_migration_min_seats: u32,
    /// Eligible seats the guidance-only tier needs.
    pub guidance_min_seats: u32,
    /// Human sentences with the numbers: what counted, which threshold applied, the outcome.
    pub reasons: Vec<String>,
}

impl Eligibility {
    /// The text every report of a guidance-only tenant must carry; `None` for the other tiers.
    pub fn notice(&self) -> Option<String> {
        match self.tier {
            Tier::GuidanceOnly => Some(format!(
                "Self-service (guidance only): this tenant has {} eligible seats and the data-migration \
                 service needs {}. Ferry runs the migration as scheduled by your team; the programme \
                 provides guidance and tooling, not data-migration services.",
                self.eligible_seats, self.data_migration_min_seats
            )),
            Tier::DataMigration | Tier::NotEligible => None,
        }
    }

    /// Refuses a not-eligible tenant (the server's guard before it creates a project), with the reasons.
    pub fn check_programme(&self) -> Result<()> {
        match self.tier {
            Tier::NotEligible => Err(Error::config(format!(
                "the tenant is not eligible for the migration programme: {}",
                self.reasons.join(" ")
            ))
            .with_context("rule", "eligibility")),
            Tier::DataMigration | Tier::GuidanceOnly => Ok(()),
        }
    }
}

impl Tenant {
    /// Seats that count towards eligibility.
    pub fn eligible_seats(&self) -> u32 {
        match self.plan {
            Plan::Commercial => self.seats.paid,
            Plan::Education => self.seats.faculty_staff,
        }
    }

    /// Decide the tier, with the reasons.
    pub fn eligibility(&self, settings: &ProgrammeSettings) -> Eligibility {
        let s = &self.seats;
        let eligible = self.eligible_seats();
        let mut reasons = Vec::new();

        // What counted and what did not.
        let mut not_counted = Vec::new();
        if s.trial > 0 {
            not_counted.push(format!("{} trial seats never count", s.trial));
        }
        match self.plan {
            Plan::Commercial => {
                reasons.push(format!("{eligible} paid seats count."));
                let edu = s.faculty_staff.saturating_add(s.students);
                if edu > 0 {
                    not_counted.push(format!(
                        "{edu} education seats do not count on a commercial plan"
                    ));
                }
            }
            Plan::Education => {
                reasons.push(format!(
                    "{eligible} paid faculty/staff seats count (education plan: only paid faculty/staff seats count)."
                ));
                if s.students > 0 {
                    not_counted.push(format!("{} student seats do not count", s.students));
                }
                if s.paid > 0 {
                    not_counted.push(format!(
                        "{} paid seats that are not faculty/staff seats do not count on an education plan",
                        s.paid
                    ));
                }
            }
        }
        if !not_counted.is_empty() {
            reasons.push(format!("{}.", capitalise(&not_counted.join("; "))));
        }

        // Which threshold applies.
        let cutoff = settings.legacy_purchase_before;
        let legacy = self.first_purchase < cutoff;
        let required = if legacy {
            reasons.push(format!(
                "First purchased on {}, before {cutoff}: the data-migration service needs {} eligible seats.",
                self.first_purchase, settings.legacy_data_migration_min_seats
            ));
            settings.legacy_data_migration_min_seats
        } else {
            reasons.push(format!(
                "First purchased on {}: the data-migration service needs {} eligible seats \
                 ({} for plans first bought before {cutoff}).",
                self.first_purchase,
                settings.data_migration_min_seats,
                settings.legacy_data_migration_min_seats
            ));
            settings.data_migration_min_seats
        };
        let guidance = settings.guidance_min_seats;

        // The outcome.
        let tier = if eligible >= required {
            reasons.push(format!(
                "{eligible} ≥ {required}: eligible for the data-migration service."
            ));
            Tier::DataMigration
        } else if eligible >= guidance {
            reasons.push(format!(
                "{eligible} is below {required} but at least {guidance}: guidance only; Ferry runs in \
                 self-service mode and every report says so."
            ));
            Tier::GuidanceOnly
        } else {
            reasons.push(format!(
                "{eligible} is below {guidance}, the minimum for guidance: not eligible. {} more eligible \
                 seats would qualify for guidance, {} more for the data-migration service.",
                guidance - eligible,
                required.saturating_sub(eligible)
            ));
            Tier::NotEligible
        };
        Eligibility {
            tier,
            eligible_seats: eligible,
            data_migration_min_seats: required,
            guidance_min_seats: guidance,
            reasons,
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(plan: Plan, seats: Seats, first_purchase: &str) -> Tenant {
        Tenant {
            name: "Contoso".into(),
            plan,
            seats,
            first_purchase: first_purchase.parse().unwrap(),
            cloud: Cloud::Commercial,
            window: AvailabilityWindow::AllWeek,
        }
    }

    fn paid(n: u32) -> Seats {
        Seats {
            paid: n,
            ..Seats::default()
        }
    }

    fn decide(plan: Plan, seats: Seats, first_purchase: &str) -> Eligibility {
        tenant(plan, seats, first_purchase).eligibility(&ProgrammeSettings::default())
    }

    #[test]
    fn data_migration_from_500_eligible_seats() {
        let e = decide(Plan::Commercial, paid(500), "2020-01-01");
        assert_eq!(e.tier, Tier::DataMigration);
        assert_eq!(e.data_migration_min_seats, 500);
        assert!(
            e.reasons.iter().any(|r| r.contains("500 ≥ 500")),
            "{:?}",
            e.reasons
        );
        assert_eq!(e.notice(), None);
        e.check_programme().unwrap();
    }

    #[test]
    fn guidance_only_between_150_and_499_seats() {
        for n in [150, 320, 499] {
            let e = decide(Plan::Commercial, paid(n), "2020-01-01");
            assert_eq!(e.tier, Tier::GuidanceOnly, "{n} seats");
            assert!(e.tier.is_self_service());
            let notice = e.notice().unwrap();
            assert!(notice.contains("Self-service"), "{notice}");
            assert!(notice.contains(&format!("{n} eligible seats")), "{notice}");
            e.check_programme().unwrap();
        }
    }

    #[test]
    fn fewer_than_150_seats_is_not_eligible_with_an_explanation() {
        let e = decide(Plan::Commercial, paid(149), "2020-01-01");
        assert_eq!(e.tier, Tier::NotEligible);
        let why = e.reasons.join(" ");
        assert!(why.contains("149 is below 150"), "{why}");
        assert!(
            why.contains("1 more eligible seats would qualify for guidance, 351 more"),
            "{why}"
        );
        let err = e.check_programme().unwrap_err();
        assert!(err.to_string().contains("not eligible"), "{err}");
        assert_eq!(
            decide(Plan::Commercial, paid(0), "2020-01-01").tier,
            Tier::NotEligible
        );
    }

    #[test]
    fn legacy_purchase_before_september_2017_needs_only_150_seats() {
        let e = decide(Plan::Commercial, paid(150), "2017-08-31");
        assert_eq!(e.tier, Tier::DataMigration);
        assert_eq!(e.data_migration_min_seats, 150);
        assert!(
            e.reasons.iter().any(|r| r.contains("before 2017-09-01")),
            "{:?}",
            e.reasons
        );
        // On the cut-off day itself the plan is not legacy.
        assert_eq!(
            decide(Plan::Commercial, paid(150), "2017-09-01").tier,
            Tier::GuidanceOnly
        );
        assert_eq!(
            decide(Plan::Commercial, paid(149), "2016-01-01").tier,
            Tier::NotEligible
        );
    }

    #[test]
    fn trial_seats_never_count() {
        let e = decide(
            Plan::Commercial,
            Seats {
                paid: 100,
                trial: 10_000,
                ..Seats::default()
            },
            "2020-01-01",
        );
        assert_eq!(e.eligible_seats, 100);
        assert_eq!(e.tier, Tier::NotEligible);
        assert!(
            e.reasons
                .iter()
                .any(|r| r.contains("10000 trial seats never count")),
            "{:?}",
            e.reasons
        );
    }

    #[test]
    fn education_counts_only_paid_faculty_and_staff_seats() {
        let seats = Seats {
            paid: 50,
            trial: 100,
            faculty_staff: 520,
            students: 20_000,
        };
        let e = decide(Plan::Education, seats, "2020-01-01");
        assert_eq!(e.eligible_seats, 520);
        assert_eq!(e.tier, Tier::DataMigration);
        let why = e.reasons.join(" ");
        assert!(why.contains("20000 student seats do not count"), "{why}");
        assert!(
            why.contains("50 paid seats that are not faculty/staff"),
            "{why}"
        );

        let students_only = Seats {
            students: 20_000,
            ..Seats::default()
        };
        assert_eq!(
            decide(Plan::Education, students_only, "2020-01-01").tier,
            Tier::NotEligible
        );
        // Education seats on a commercial plan do not count either.
        let e = decide(
            Plan::Commercial,
            Seats {
                faculty_staff: 600,
                ..Seats::default()
            },
            "2020-01-01",
        );
        assert_eq!(e.tier, Tier::NotEligible);
    }

    #[test]
    fn thresholds_are_settings() {
        let settings = ProgrammeSettings {
            data_migration_min_seats: 1000,
            guidance_min_seats: 10,
            ..Default::default()
        };
        let e = tenant(Plan::Commercial, paid(600), "2020-01-01").eligibility(&settings);
        assert_eq!(e.tier, Tier::GuidanceOnly);
        let e = tenant(Plan::Commercial, paid(10), "2020-01-01").eligibility(&settings);
        assert_eq!(e.tier, Tier::GuidanceOnly);
    }
}
