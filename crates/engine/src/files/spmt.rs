//! Mapping CSVs in the Migration Manager / SharePoint Migration Tool format:
//! `Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder`.
//!
//! Rules (each tested, each in docs/files.md): the file may have a header row (recognised by its column
//! names) or not (SPMT's own files have none); every row has six columns (trailing empty ones may be
//! left off); `Source` and `TargetWeb` are required, the others may be empty; the whole file is checked
//! before anything runs and a bad row is an error naming its line and column.

use ferry_core::{Error, Result};

/// One validated row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpmtRow {
    /// 1-based line number.
    pub line: usize,
    /// The source root: a path or URL.
    pub source: String,
    pub source_doc_lib: String,
    pub source_sub_folder: String,
    /// The target root: a URL or path.
    pub target_web: String,
    pub target_doc_lib: String,
    pub target_sub_folder: String,
}

impl SpmtRow {
    /// The directory under the source root to start from.
    pub fn source_dir(&self) -> String {
        join_dirs(&[&self.source_doc_lib, &self.source_sub_folder])
    }

    /// The directory under the target root to copy into.
    pub fn target_dir(&self) -> String {
        join_dirs(&[&self.target_doc_lib, &self.target_sub_folder])
    }
}

fn join_dirs(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split(['/', '\\']))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

const HEADER: [&str; 6] = [
    "source",
    "sourcedoclib",
    "sourcesubfolder",
    "targetweb",
    "targetdoclib",
    "targetsubfolder",
];

/// Parse and validate a whole SPMT mapping file.
pub fn parse_spmt_csv(text: &str) -> Result<Vec<SpmtRow>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n + 1;
        let rec = rec.map_err(|e| Error::config(format!("mapping CSV line {line}: {e}")))?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if line == 1
            && rec
                .iter()
                .zip(HEADER)
                .all(|(f, h)| f.to_ascii_lowercase() == h)
        {
            continue;
        }
        if rec.len() > 6 {
            return Err(Error::config(format!(
                "mapping CSV line {line}: {} columns; expected Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder",
                rec.len()
            )));
        }
        let get = |i: usize| rec.get(i).unwrap_or("").to_owned();
        let row = SpmtRow {
            line,
            source: get(0),
            source_doc_lib: get(1),
            source_sub_folder: get(2),
            target_web: get(3),
            target_doc_lib: get(4),
            target_sub_folder: get(5),
        };
        if row.source.is_empty() {
            return Err(Error::config(format!(
                "mapping CSV line {line}: Source (column 1) is empty"
            )));
        }
        if row.target_web.is_empty() {
            return Err(Error::config(format!(
                "mapping CSV line {line}: TargetWeb (column 4) is empty"
            )));
        }
        out.push(row);
    }
    if out.is_empty() {
        return Err(Error::config("mapping CSV: no rows"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_and_without_header_parse_and_dirs_join() {
        let rows = parse_spmt_csv(
            "Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder\n\\\\fs\\share,,Finance\\2024,webdav://127.0.0.1:8080/site,Documents,Imported\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].source_dir(), "Finance/2024");
        assert_eq!(rows[0].target_dir(), "Documents/Imported");
        assert_eq!(rows[0].line, 2);
        let bare = parse_spmt_csv("/srv/a,,,/tmp/b\n").unwrap();
        assert_eq!((bare[0].target_dir().as_str(), bare[0].line), ("", 1));
    }

    #[test]
    fn bad_rows_name_their_line_and_column() {
        let err = |s: &str| parse_spmt_csv(s).unwrap_err().to_string();
        assert!(err("/a,,,/b\n,,,/c\n").contains("line 2: Source (column 1) is empty"));
        assert!(err("/a,,,\n").contains("line 1: TargetWeb (column 4) is empty"));
        assert!(err("/a,,,/b,,,x\n").contains("line 1: 7 columns"));
        assert!(err("\n").contains("no rows"));
    }
}
