//! The consistency grade of a mapping or event (DESIGN §1), from skipped and failed vs. discovered items.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How complete a migration is. `Investigate` needs an explicit approval of the skipped items before
/// completion; `Poor` blocks completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grade {
    Perfect,
    Good,
    Investigate,
    Poor,
}

/// Thresholds, as fractions of discovered items. Defaults: up to 0.1 % skipped → Good, up to 2 % → Investigate;
/// any failure or more than 2 % not copied → Poor. Missing items (verify) count as failed.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GradePolicy {
    pub good_max_fraction: f64,
    pub investigate_max_fraction: f64,
}

impl Default for GradePolicy {
    fn default() -> Self {
        GradePolicy {
            good_max_fraction: 0.001,
            investigate_max_fraction: 0.02,
        }
    }
}

impl GradePolicy {
    /// Grade from counts: `discovered` items, of which `skipped` were skipped and `failed` failed or missing.
    pub fn grade(&self, discovered: u64, skipped: u64, failed: u64) -> Grade {
        if skipped == 0 && failed == 0 {
            return Grade::Perfect;
        }
        let d = discovered.max(1) as f64;
        let bad = (skipped + failed) as f64 / d;
        if failed > 0 && bad > self.investigate_max_fraction {
            return Grade::Poor;
        }
        if failed == 0 && bad <= self.good_max_fraction {
            Grade::Good
        } else if bad <= self.investigate_max_fraction {
            Grade::Investigate
        } else {
            Grade::Poor
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grade::Perfect => "Perfect",
            Grade::Good => "Good",
            Grade::Investigate => "Investigate",
            Grade::Poor => "Poor",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_the_thresholds() {
        let p = GradePolicy::default();
        assert_eq!(p.grade(10_000, 0, 0), Grade::Perfect);
        assert_eq!(p.grade(10_000, 5, 0), Grade::Good);
        assert_eq!(p.grade(10_000, 50, 0), Grade::Investigate);
        assert_eq!(p.grade(10_000, 0, 1), Grade::Investigate);
        assert_eq!(p.grade(10_000, 500, 0), Grade::Poor);
        assert_eq!(p.grade(10, 0, 5), Grade::Poor);
        assert_eq!(p.grade(0, 0, 0), Grade::Perfect);
    }
}
