//! Small formatting helpers: sizes, durations, plain-text tables.

/// Parse a size such as `35MB`, `35M`, `512KiB`, `1.5G` or a number of bytes. Units are binary (1 MB =
/// 1,048,576 bytes), as Exchange states its 35 MB limit.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. 35MB, 512KB or 1048576"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}; use B, KB, MB, GB or TB"
            ));
        }
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{s:?} is not a size"));
    }
    Ok((n * mult as f64).round() as u64)
}

/// `1.2 MB`-style, binary units.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

pub fn human_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// A plain-text table with right-aligned numeric columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        // Counts and sizes (`12`, `1.5 MB`, `36/36`) are right-aligned; dates and ids, which also start
        // with a digit, are not.
        let numeric = |i: usize| {
            self.rows.iter().all(|r| {
                r.get(i).is_none_or(|c| {
                    c.is_empty()
                        || (c.starts_with(|ch: char| ch.is_ascii_digit())
                            && !c.contains(['-', ':']))
                })
            })
        };
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::new();
            for (i, width) in w.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = width.saturating_sub(c.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                if numeric(i) && i > 0 {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.header, &mut out);
        let total: usize = w.iter().sum::<usize>() + 2 * n.saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_and_bad_ones_explain() {
        assert_eq!(parse_size("35MB").unwrap(), 35 * 1024 * 1024);
        assert_eq!(parse_size("35m").unwrap(), 35 * 1024 * 1024);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("1.5K").unwrap(), 1536);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_size("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["Mailbox", "Copied"]);
        t.row(vec!["a@b".into(), "5".into()]);
        t.row(vec!["long@example.com".into(), "12345".into()]);
        let r = t.render();
        let lines: Vec<&str> = r.lines().collect();
        // Numbers are right-aligned: every line ends in the same column.
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count()),
            "{r}"
        );
        assert!(
            lines[2].starts_with("a@b ") && lines[2].ends_with(" 5"),
            "{r}"
        );
        assert_eq!(human_bytes(1536), "1.5 KB");
        let mut t = Table::new(&["Seq", "At", "Size"]);
        t.row(vec![
            "1".into(),
            "2025-03-03 10:00 UTC".into(),
            "1.5 KB".into(),
        ]);
        let r = t.render();
        assert!(r.starts_with("Seq  At                      Size\n"), "{r}");
    }
}
