//! Mapping CSVs in the format users already have: Exchange Online's IMAP migration batch file
//! (`EmailAddress,UserName,Password[,UserRoot]`), with optional `TargetUserName,TargetPassword` columns for
//! targets that take per-user logins.
//!
//! Rules (each tested, each in docs/mail.md): a header row is required; column names are matched without
//! regard to case or surrounding spaces; unknown columns are an error (a typo must not silently drop a
//! password); every row needs EmailAddress, UserName and Password; an EmailAddress may appear only once;
//! TargetUserName and TargetPassword come together. The whole file is validated before anything runs: a bad
//! row is an error naming its line and column, and nothing is half-imported.

use ferry_core::mail::Secret;
use ferry_core::{Error, Result};

/// One validated CSV row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvMapping {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// The target mailbox (and the mapping's label).
    pub email: String,
    /// Source login.
    pub user: String,
    pub password: Secret,
    /// Source folder prefix to migrate from (servers that keep users under one root).
    pub user_root: Option<String>,
    pub target_user: Option<String>,
    pub target_password: Option<Secret>,
}

const COLUMNS: [&str; 6] = [
    "emailaddress",
    "username",
    "password",
    "userroot",
    "targetusername",
    "targetpassword",
];

/// Parse and validate a whole mapping file.
pub fn parse_mapping_csv(text: &str) -> Result<Vec<CsvMapping>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // Excel writes a BOM
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::config(format!("mapping CSV: cannot read the header row: {e}")))?
        .clone();
    let mut idx: [Option<usize>; 6] = [None; 6];
    for (i, h) in headers.iter().enumerate() {
        let norm = h.trim().to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == norm) {
            Some(c) if idx[c].is_none() => idx[c] = Some(i),
            Some(_) => {
                return Err(Error::config(format!(
                    "mapping CSV line 1: column {h:?} appears twice"
                )));
            }
            None => {
                return Err(Error::config(format!(
                    "mapping CSV line 1: unknown column {h:?}; expected EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword]"
                )));
            }
        }
    }
    for (c, name) in [(0, "EmailAddress"), (1, "UserName"), (2, "Password")] {
        if idx[c].is_none() {
            return Err(Error::config(format!(
                "mapping CSV line 1: the header has no {name} column; expected EmailAddress,UserName,Password[,UserRoot]"
            )));
        }
    }
    let mut out: Vec<CsvMapping> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| Error::config(format!("mapping CSV line {line}: {e}")))?;
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() > headers.len() {
            return Err(Error::config(format!(
                "mapping CSV line {line}: {} fields but the header has {} (a comma inside a value needs quotes)",
                rec.len(),
                headers.len()
            )));
        }
        let get = |c: usize| {
            idx[c]
                .and_then(|i| rec.get(i))
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        };
        let need = |c: usize, name: &str| {
            get(c).ok_or_else(|| Error::config(format!("mapping CSV line {line}: {name} is empty")))
        };
        let email = need(0, "EmailAddress")?;
        if !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(Error::config(format!(
                "mapping CSV line {line}: EmailAddress {email:?} is not an e-mail address"
            )));
        }
        if let Some(first) = seen.insert(email.to_ascii_lowercase(), line) {
            return Err(Error::config(format!(
                "mapping CSV line {line}: EmailAddress {email} is already on line {first}"
            )));
        }
        let user = need(1, "UserName")?;
        let password = Secret::new(need(2, "Password")?);
        let (target_user, target_password) = (get(4), get(5).map(Secret::new));
        if target_user.is_some() != target_password.is_some() {
            return Err(Error::config(format!(
                "mapping CSV line {line}: TargetUserName and TargetPassword must be given together"
            )));
        }
        out.push(CsvMapping {
            line,
            email,
            user,
            password,
            user_root: get(3),
            target_user,
            target_password,
        });
    }
    if out.is_empty() {
        return Err(Error::config("mapping CSV: no rows after the header"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_format_with_optional_columns_parses() {
        let rows = parse_mapping_csv(
            "\u{feff}EmailAddress,UserName,Password,UserRoot\nterry@contoso.com,terry,p1,/users/terry\nann@contoso.com,ann,\"p,2\",\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user_root.as_deref(), Some("/users/terry"));
        assert_eq!(rows[1].password.expose(), "p,2");
        assert_eq!(rows[1].user_root, None);
        assert_eq!(rows[1].line, 3);
        let t = parse_mapping_csv(
            "emailaddress , USERNAME,Password,TargetUserName,TargetPassword\na@b.c,a,p,ta,tp\n",
        )
        .unwrap();
        assert_eq!(t[0].target_user.as_deref(), Some("ta"));
    }

    #[test]
    fn bad_rows_name_their_line_and_field() {
        let err = |s: &str| parse_mapping_csv(s).unwrap_err().to_string();
        assert!(
            err("EmailAddress,UserName,Password\na@b.c,a,\n").contains("line 2: Password is empty")
        );
        assert!(
            err("EmailAddress,UserName,Password\na@b.c,a,p\nA@B.C,x,y\n")
                .contains("line 3: EmailAddress A@B.C is already on line 2")
        );
        assert!(err("EmailAddress,UserName,Pasword\n").contains("unknown column \"Pasword\""));
        assert!(err("EmailAddress,UserName\n").contains("no Password column"));
        assert!(
            err("EmailAddress,UserName,Password\nnot-an-address,a,p\n")
                .contains("line 2: EmailAddress")
        );
        assert!(
            err("EmailAddress,UserName,Password\na@b.c,a,p,extra\n").contains("line 2: 4 fields")
        );
        assert!(
            err("EmailAddress,UserName,Password,TargetUserName\na@b.c,a,p,t\n")
                .contains("together")
        );
        assert!(err("EmailAddress,UserName,Password\n").contains("no rows"));
    }

    #[test]
    fn passwords_never_print() {
        let rows = parse_mapping_csv("EmailAddress,UserName,Password\na@b.c,a,hunter2\n").unwrap();
        assert!(!format!("{rows:?}").contains("hunter2"));
    }
}
