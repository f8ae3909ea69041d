//! Charts as inline SVG, drawn on the server (no script, no charting library): a column chart whose
//! geometry is computed here and drawn by `templates/report/chart.html`, which escapes every text. Each
//! chart carries a `<title>` and a description for screen readers, and the page shows the same figures as
//! a table next to it.
//!
//! Written by hand rather than with a crate: two small column charts need a few rectangles and labels;
//! `charts-rs` embeds a 168 kB font and its text-measuring parser, `plotters` brings its drawing backends,
//! and neither writes the `<title>`/table pairing the pages need.

use chrono::{DateTime, TimeDelta, Utc};

/// The drawing's size (the SVG scales to the page's width; print keeps the ratio).
const WIDTH: u32 = 560;
const HEIGHT: u32 = 220;
const LEFT: u32 = 48;
const RIGHT: u32 = 12;
const TOP: u32 = 16;
const BOTTOM: u32 = 34;
/// Column labels shown at most (every n-th column is labelled when there are more).
const LABELS: usize = 8;

/// One figure of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub label: String,
    pub value: u64,
    /// A CSS class for the column (`grade-Perfect`), or empty.
    pub class: String,
}

/// A column as drawn.
#[derive(Clone, Debug)]
pub struct Column {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub class: String,
    /// The tooltip (`<title>` of the column): label and value.
    pub tip: String,
    /// Where the column's label goes, when it has one shown.
    pub label: Option<(u32, String)>,
}

/// A column chart ready for `report/chart.html`.
#[derive(Clone, Debug)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: u32,
    pub height: u32,
    pub columns: Vec<Column>,
    /// The axis: the top value's text and its y, the baseline's y, the plot's left and right x.
    pub top_text: String,
    pub top_y: u32,
    pub base_y: u32,
    pub left: u32,
    pub right: u32,
    pub label_y: u32,
}

/// A column chart of `figures` (in their order), titled `title`; `unit` names what the values count.
pub fn columns(id: &str, title: &str, unit: &str, figures: &[Figure]) -> Chart {
    let max = figures.iter().map(|f| f.value).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = figures.len().max(1) as u32;
    let slot = plot_w / n;
    let w = (slot * 4 / 5).max(1);
    let every = figures.len().div_ceil(LABELS).max(1);
    let columns = figures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // Scaled in integers: the value's share of the plot's height, at least a hairline when not 0.
            let h = ((u128::from(f.value) * u128::from(plot_h)) / u128::from(max)) as u32;
            let h = if f.value > 0 { h.max(1) } else { 0 };
            let x = LEFT + slot * i as u32 + (slot - w) / 2;
            Column {
                x,
                y: TOP + plot_h - h,
                w,
                h,
                class: f.class.clone(),
                tip: format!("{}: {} {unit}", f.label, f.value),
                label: (i % every == 0).then(|| (x + w / 2, f.label.clone())),
            }
        })
        .collect();
    let total = figures
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.value));
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        desc: format!(
            "{} columns, {total} {unit} in all, the largest {max}; the table below gives every figure.",
            figures.len()
        ),
        width: WIDTH,
        height: HEIGHT,
        columns,
        top_text: max.to_string(),
        top_y: TOP,
        base_y: TOP + plot_h,
        left: LEFT,
        right: WIDTH - RIGHT,
        label_y: HEIGHT - BOTTOM / 3,
    }
}

/// One interval of the throughput: passes that ended in it and what they handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub passes: u64,
    pub items: u64,
    pub bytes: u64,
}

/// The interval lengths throughput is counted in: the shortest that makes at most `max` intervals.
const STEPS_MIN: [i64; 10] = [1, 5, 15, 30, 60, 180, 360, 720, 1440, 10080];

/// Items and bytes handled per interval from pass ends `(ended_at, items, bytes)`: intervals of a round
/// length (1 min … 1 week, the shortest giving at most `max`), from the first end's interval to the last's,
/// empty intervals included (a stall shows as a gap).
#[cfg(test)]
pub fn throughput(ends: &[(DateTime<Utc>, u64, u64)], max: usize) -> (i64, Vec<Interval>) {
    let groups: Vec<EndGroup> = ends
        .iter()
        .map(|(at, items, bytes)| EndGroup {
            first: *at,
            last: *at,
            passes: 1,
            items: *items,
            bytes: *bytes,
        })
        .collect();
    throughput_grouped(&groups, max)
}

/// Pass ends that fall in one minute (as the store groups them): the first and the last end, how many,
/// and what they handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndGroup {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub passes: u64,
    pub items: u64,
    pub bytes: u64,
}

/// [`throughput`] from pass ends grouped by minute: the same intervals, since an interval is whole minutes.
pub fn throughput_grouped(groups: &[EndGroup], max: usize) -> (i64, Vec<Interval>) {
    let (Some(first), Some(last)) = (
        groups.iter().map(|g| g.first).min(),
        groups.iter().map(|g| g.last).max(),
    ) else {
        return (STEPS_MIN[0], Vec::new());
    };
    let span = (last - first).num_minutes().max(0);
    let max = max.max(1) as i64;
    let step = STEPS_MIN
        .iter()
        .copied()
        .find(|s| span / s < max)
        .unwrap_or(STEPS_MIN[STEPS_MIN.len() - 1]);
    let origin = floor(first, step);
    let count = ((last - origin).num_minutes() / step + 1) as usize;
    let mut out: Vec<Interval> = (0..count)
        .map(|i| Interval {
            start: origin + TimeDelta::minutes(step * i as i64),
            passes: 0,
            items: 0,
            bytes: 0,
        })
        .collect();
    for g in groups {
        let i = ((g.first - origin).num_minutes() / step) as usize;
        if let Some(slot) = out.get_mut(i.min(count - 1)) {
            slot.passes += g.passes;
            slot.items = slot.items.saturating_add(g.items);
            slot.bytes = slot.bytes.saturating_add(g.bytes);
        }
    }
    (step, out)
}

/// `t` rounded down to a multiple of `step` minutes since the epoch.
fn floor(t: DateTime<Utc>, step: i64) -> DateTime<Utc> {
    let secs = step * 60;
    let floored = t.timestamp().div_euclid(secs) * secs;
    DateTime::from_timestamp(floored, 0).unwrap_or(t)
}

/// An interval length in words (`15 min`, `3 h`, `1 day`).
pub fn step_text(step: i64) -> String {
    match step {
        s if s % 10080 == 0 => format!("{} week", s / 10080),
        s if s % 1440 == 0 => format!("{} day", s / 1440),
        s if s % 60 == 0 => format!("{} h", s / 60),
        s => format!("{s} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fig(label: &str, value: u64) -> Figure {
        Figure {
            label: label.into(),
            value,
            class: String::new(),
        }
    }

    #[test]
    fn the_tallest_column_fills_the_plot_and_the_others_are_in_proportion() {
        let c = columns(
            "g",
            "Grades",
            "mappings",
            &[fig("Perfect", 8), fig("Good", 2), fig("Poor", 0)],
        );
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert_eq!(c.columns[0].h, plot_h);
        assert_eq!(c.columns[1].h, plot_h / 4);
        assert_eq!(c.columns[2].h, 0, "a zero is no column");
        for col in &c.columns {
            assert_eq!(col.y + col.h, c.base_y, "columns stand on the baseline");
            assert!(col.x + col.w <= c.right);
        }
        assert_eq!(c.columns[1].tip, "Good: 2 mappings");
        assert!(c.desc.contains("10 mappings in all"), "{}", c.desc);
    }

    #[test]
    fn a_tiny_value_next_to_a_huge_one_still_shows_and_nothing_overflows() {
        let c = columns("t", "T", "items", &[fig("a", u64::MAX), fig("b", 1)]);
        assert_eq!(c.columns[0].h, HEIGHT - TOP - BOTTOM);
        assert_eq!(c.columns[1].h, 1);
    }

    #[test]
    fn with_many_columns_only_every_nth_is_labelled() {
        let figs: Vec<Figure> = (0..24).map(|i| fig(&i.to_string(), i)).collect();
        let c = columns("t", "T", "items", &figs);
        assert_eq!(c.columns.iter().filter(|c| c.label.is_some()).count(), 8);
        let none = columns("t", "T", "items", &[]);
        assert!(none.columns.is_empty());
    }

    #[test]
    fn throughput_counts_pass_ends_per_round_interval_and_keeps_empty_ones() {
        let t = |h, m| Utc.with_ymd_and_hms(2026, 3, 2, h, m, 30).unwrap();
        let ends = [
            (t(10, 1), 100, 1_000),
            (t(10, 7), 50, 500),
            (t(10, 2), 10, 10),
            (t(10, 58), 1, 1),
        ];
        let (step, iv) = throughput(&ends, 24);
        assert_eq!(step, 5, "58 minutes in at most 24 intervals: 5 min");
        assert_eq!(iv.len(), 12);
        assert_eq!(
            iv[0].start,
            Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
        );
        assert_eq!((iv[0].passes, iv[0].items, iv[0].bytes), (2, 110, 1_010));
        assert_eq!((iv[1].passes, iv[1].items), (1, 50));
        assert_eq!(iv[5].passes, 0, "a stall is an empty interval");
        assert_eq!((iv[11].passes, iv[11].items), (1, 1));
        assert_eq!(iv.iter().map(|i| i.items).sum::<u64>(), 161);
        assert_eq!(throughput(&[], 24).1, Vec::new());
        let (step, iv) = throughput(&[(t(10, 0), 5, 5)], 24);
        assert_eq!((step, iv.len()), (1, 1));
        assert_eq!(step_text(180), "3 h");
        assert_eq!(step_text(1440), "1 day");
        assert_eq!(step_text(15), "15 min");
    }
}
