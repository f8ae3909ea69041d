//! Filters and paging of the lists that grow without end — the audit log, transactions and tickets —
//! read from a query string the same way by the API and by the dashboard's pages, so both refuse the same
//! values with the same message (400, never clamped, never a 500).
//!
//! Every field is text, so a number or date that does not parse is answered with a sentence naming the
//! field, not with the framework's generic rejection; an empty field (a form sent with a blank box) is
//! the same as no field.

use crate::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use ferry_core::programme::TransactionStatus;
use ferry_store::programme::{AuditFilter, TicketFilter, TransactionFilter};
use serde::Deserialize;
use std::str::FromStr;

/// A range of times: from (included), to (excluded); either may be open.
pub type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The largest page of transactions or tickets.
pub const MAX_LIST_PAGE: i64 = 500;

/// The query string of a log or list (`?actor=&action=&status=&from=&to=&after=&before=&limit=`); which
/// fields a list takes is decided by its reader (an unexpected one is refused there).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// The actor's shown name, or `scheduler`.
    pub actor: Option<String>,
    /// An action (`ticket.report`) or its family (`ticket`).
    pub action: Option<String>,
    /// A transaction's status or a ticket's (`open`, `resolved`).
    pub status: Option<String>,
    /// A ticket's mapping.
    pub mapping: Option<String>,
    /// From this day (`2026-12-06`, UTC) or time (RFC 3339), included.
    pub from: Option<String>,
    /// To this day, included, or before this time.
    pub to: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl LogQuery {
    /// Refuse the fields this list does not take (`allowed` names those it does).
    pub fn only(&self, list: &str, allowed: &[&str]) -> Result<(), ApiError> {
        let fields = [
            ("actor", &self.actor),
            ("action", &self.action),
            ("status", &self.status),
            ("mapping", &self.mapping),
            ("from", &self.from),
            ("to", &self.to),
            ("after", &self.after),
            ("before", &self.before),
            ("limit", &self.limit),
        ];
        for (name, value) in fields {
            if given(value).is_some() && !allowed.contains(&name) {
                return Err(ApiError::bad_request(format!(
                    "{list} takes no {name}=: its filters are {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// `limit`: 1 to `max`, `default` when not given.
    pub fn limit(&self, default: i64, max: i64, page_on: &str) -> Result<i64, ApiError> {
        let Some(raw) = given(&self.limit) else {
            return Ok(default);
        };
        match raw.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit = {raw}: one page holds 1 to {max} entries; page on with {page_on}"
            ))),
        }
    }

    /// A sequence number (`after`, `before`): 0 or more.
    pub fn seq(&self, field: &str) -> Result<Option<i64>, ApiError> {
        let value = if field == "after" {
            &self.after
        } else {
            &self.before
        };
        let Some(raw) = given(value) else {
            return Ok(None);
        };
        match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "{field} = {raw}: give a sequence number (0 or more), the `seq` of an entry of the previous page"
            ))),
        }
    }

    /// An id cursor (`before` for transactions and tickets): the id of the last entry of the previous page.
    pub fn before_id<T: FromStr>(&self) -> Result<Option<T>, ApiError> {
        let Some(raw) = given(&self.before) else {
            return Ok(None);
        };
        T::from_str(raw).map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "before = {raw:?}: give the id of the last entry of the previous page"
            ))
        })
    }

    /// The date range `from`..`to` as times (`to` a day: that whole day).
    pub fn range(&self) -> Result<Range, ApiError> {
        let since = given(&self.from)
            .map(|s| when("from", s, false))
            .transpose()?;
        let until = given(&self.to).map(|s| when("to", s, true)).transpose()?;
        if let (Some(a), Some(b)) = (since, until)
            && a >= b
        {
            return Err(ApiError::bad_request(
                "from is after to: give the earlier day in from and the later one in to",
            ));
        }
        Ok((since, until))
    }

    fn text(v: &Option<String>, what: &str) -> Result<Option<String>, ApiError> {
        match given(v) {
            Some(s) if s.chars().count() > 200 => Err(ApiError::bad_request(format!(
                "{what} holds at most 200 characters"
            ))),
            s => Ok(s.map(str::to_owned)),
        }
    }

    /// The audit log's filter.
    pub fn audit_filter(&self) -> Result<AuditFilter, ApiError> {
        let (since, until) = self.range()?;
        Ok(AuditFilter {
            actor: Self::text(&self.actor, "actor")?,
            action: Self::text(&self.action, "action")?,
            since,
            until,
        })
    }

    /// The transactions' filter.
    pub fn transaction_filter(&self) -> Result<TransactionFilter, ApiError> {
        let (since, until) = self.range()?;
        let status = given(&self.status)
            .map(|s| {
                TransactionStatus::ALL
                    .into_iter()
                    .find(|t| t.as_str() == s)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "status = {s:?}: use one of {}",
                            TransactionStatus::ALL.map(|t| t.as_str()).join(", ")
                        ))
                    })
            })
            .transpose()?;
        Ok(TransactionFilter {
            actor: Self::text(&self.actor, "actor")?,
            action: Self::text(&self.action, "action")?,
            status,
            since,
            until,
        })
    }

    /// The tickets' filter.
    pub fn ticket_filter(&self) -> Result<TicketFilter, ApiError> {
        let status = match given(&self.status) {
            None => None,
            Some(s @ ("open" | "resolved")) => Some(s.to_owned()),
            Some(s) => {
                return Err(ApiError::bad_request(format!(
                    "status = {s:?}: use open or resolved"
                )));
            }
        };
        let mapping = given(&self.mapping)
            .map(|m| {
                m.parse().map_err(|_| {
                    ApiError::bad_request(format!("mapping = {m:?}: give a mapping's id"))
                })
            })
            .transpose()?;
        Ok(TicketFilter { status, mapping })
    }
}

/// A day (UTC midnight; with `end`, the midnight after it) or an RFC 3339 time.
fn when(field: &str, raw: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!(
            "{field} = {raw:?}: give a day (2026-12-06) or a time (2026-12-06T10:00:00Z)"
        ))
    })?;
    let day = if end { day.succ_opt() } else { Some(day) };
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| ApiError::bad_request(format!("{field} = {raw:?}: the day is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> LogQuery {
        let mut q = LogQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "actor" => q.actor = v,
                "action" => q.action = v,
                "status" => q.status = v,
                "mapping" => q.mapping = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "after" => q.after = v,
                "before" => q.before = v,
                "limit" => q.limit = v,
                other => panic!("no field {other}"),
            }
        }
        q
    }

    #[test]
    fn paging_values_out_of_range_are_refused_with_the_range_not_clamped() {
        for bad in ["0", "-1", "501", "99999999999999999999", "ten"] {
            let e = q(&[("limit", bad)])
                .limit(100, 500, "before=<id>")
                .unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.message.contains("1 to 500"), "{}", e.message);
        }
        assert_eq!(q(&[("limit", "")]).limit(100, 500, "x").ok(), Some(100));
        assert!(q(&[("before", "-3")]).seq("before").is_err());
        assert_eq!(q(&[("before", "7")]).seq("before").ok(), Some(Some(7)));
        assert!(
            q(&[("before", "nope")])
                .before_id::<ferry_core::id::TransactionId>()
                .is_err()
        );
    }

    #[test]
    fn a_day_range_covers_the_whole_last_day_and_a_reversed_range_is_refused() {
        let (a, b) = q(&[("from", "2026-12-01"), ("to", "2026-12-01")])
            .range()
            .expect("a range");
        assert_eq!(
            a.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-01T00:00:00+00:00")
        );
        assert_eq!(
            b.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-02T00:00:00+00:00")
        );
        assert!(
            q(&[("from", "2026-12-03"), ("to", "2026-12-01")])
                .range()
                .is_err()
        );
        let e = q(&[("from", "yesterday")]).range().unwrap_err();
        assert!(e.message.contains("give a day"), "{}", e.message);
    }

    #[test]
    fn unknown_statuses_and_fields_a_list_does_not_take_are_refused() {
        assert!(q(&[("status", "done")]).transaction_filter().is_err());
        assert!(q(&[("status", "failed")]).transaction_filter().is_ok());
        assert!(q(&[("status", "closed")]).ticket_filter().is_err());
        assert!(q(&[("status", "resolved")]).ticket_filter().is_ok());
        assert!(
            q(&[("status", "open")])
                .only("the audit log", &["actor"])
                .is_err()
        );
        assert!(
            q(&[("status", "")])
                .only("the audit log", &["actor"])
                .is_ok()
        );
    }
}
