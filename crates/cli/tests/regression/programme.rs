//! Issue 9, the programme's items 18 and 19 through the binary: `ferry serve --settings FILE` (validated
//! at start) and `--log-format json` (event and pass starts and ends, one line each, with names).

use crate::common::{Served, code, ferry, maildir, text};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const OPERATOR: &str = "fy_q7Vd2LxN9cRt4WbZ8mKp1HsJ6yFgA3eU0oXiC5nTl_E";
/// base64 of 32 bytes.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn server_env() -> [(&'static str, &'static str); 2] {
    [
        ("FERRY_BOOTSTRAP_TOKEN", OPERATOR),
        ("FERRY_CREDENTIAL_KEY", KEY),
    ]
}

#[test]
fn a_misspelt_or_impossible_setting_stops_ferry_serve_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (file, name) in [
        (
            "lead_time_hours = 48\nmax_attempt_per_mapping = 3\n",
            "max_attempt_per_mapping",
        ),
        ("[grade]\ngood_max_fraction = 0.5\n", "good_max_fraction"),
        ("[grade]\ngood = 0.5\n", "good"),
        ("delta_cadence_hours = \"daily\"\n", "delta_cadence_hours"),
    ] {
        let path = tmp.path().join("settings.toml");
        std::fs::write(&path, file).unwrap();
        let o = ferry(
            &data,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--settings",
                path.to_str().unwrap(),
            ],
            &server_env(),
        );
        assert_eq!(code(&o), 2, "{file}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name), "{file}: {err}");
        assert!(err.contains("settings.toml"), "{err}");
        assert!(!data.join("ferry.db").exists(), "nothing started: {err}");
    }
}

impl Served {
    fn start(data: &Path, extra: &[&str]) -> Served {
        std::fs::create_dir_all(data).unwrap();
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Served::spawn(data, data.join("serve.log"), &args, &server_env())
    }

    /// `ferry ARGS` as the operator; its stdout, asserting success.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let env = [
            ("FERRY_SERVER", self.url.as_str()),
            ("FERRY_TOKEN", OPERATOR),
            ("FERRY_TENANT", "Contoso"),
            ("FERRY_PROJECT", "Mail"),
        ];
        let o = ferry(&self.data.join("client"), args, &env);
        assert_eq!(code(&o), 0, "ferry {}:\n{}", args.join(" "), text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The JSON log lines printed so far.
    fn json_lines(&self) -> Vec<Value> {
        self.output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The first JSON log line whose message is `message`, waiting for it (bounded).
    fn wait_for_log(&self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(l) = self
                .json_lines()
                .into_iter()
                .find(|l| l["fields"]["message"] == message)
            {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no {message:?} in the log:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn ferry_serve_takes_its_settings_file_and_logs_events_and_passes_as_json_lines_with_names() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = tmp.path().join("settings.toml");
    // A one-hour lead time instead of three days.
    std::fs::write(
        &settings,
        "lead_time_hours = 1\n[grade]\ngood_max_fraction = 0.0\n",
    )
    .unwrap();
    let s = Served::start(
        &tmp.path().join("data"),
        &[
            "--log-format",
            "json",
            "--settings",
            settings.to_str().unwrap(),
        ],
    );
    s.ok(&[
        "tenant",
        "create",
        "Contoso",
        "--paid",
        "800",
        "--first-purchase",
        "2019-06-01",
    ]);
    s.ok(&["tenant", "window", "24x7"]);
    s.ok(&["project", "create", "Mail", "--workload", "mail"]);
    let mail = tmp.path().join("mailboxes");
    maildir(&mail, "alex", 3);
    s.ok(&[
        "endpoint",
        "set",
        "source",
        &format!("maildir:{}", mail.display()),
    ]);
    s.ok(&[
        "endpoint",
        "set",
        "target",
        &format!("maildir:{}", tmp.path().join("target").display()),
    ]);
    let csv = tmp.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\nalex@contoso.example,alex,pw\n",
    )
    .unwrap();
    s.ok(&["mapping", "import", csv.to_str().unwrap()]);
    s.ok(&["gate", "confirm", "--all"]);
    // The settings file is in force: an event two hours ahead keeps the one-hour lead time.
    s.ok(&[
        "event",
        "create",
        "Wave 1",
        "--kind",
        "synchronization",
        "--start",
        "+2h",
        "--all-mappings",
    ]);
    s.ok(&[
        "event",
        "create",
        "Pilot",
        "--kind",
        "synchronization",
        "--pilot",
        "--start",
        "now",
        "--all-mappings",
    ]);

    // The scheduler starts the pilot and its pass; each step is one JSON line with names.
    let started = s.wait_for_log("event started");
    assert_eq!(started["fields"]["event"], "Pilot", "{started}");
    assert_eq!(started["fields"]["project"], "Mail", "{started}");
    assert_eq!(started["level"], "INFO", "{started}");
    let pass = s.wait_for_log("pass started");
    assert_eq!(pass["fields"]["mapping"], "alex@contoso.example", "{pass}");
    assert_eq!(pass["fields"]["kind"], "initial", "{pass}");
    let ended = s.wait_for_log("pass ended");
    assert_eq!(
        ended["fields"]["mapping"], "alex@contoso.example",
        "{ended}"
    );
    assert_eq!(ended["fields"]["copied"], 3, "{ended}");
    assert!(ended["timestamp"].is_string(), "{ended}");
    // Every line the server logged is JSON; no secret is in them.
    let out = s.output();
    for l in out.lines().filter(|l| l.contains("\"level\"")) {
        assert!(serde_json::from_str::<Value>(l).is_ok(), "{l}");
    }
    assert!(!out.contains(KEY));
}

/// The UUID-shaped words of `out` (8-4-4-4-12 hex digits).
fn uuids(out: &str) -> Vec<String> {
    out.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| {
            w.len() == 36
                && w.char_indices()
                    .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn credential_and_audit_tables_name_mappings_projects_and_people_instead_of_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Served::start(&tmp.path().join("data"), &[]);
    s.ok(&[
        "tenant",
        "create",
        "Contoso",
        "--paid",
        "800",
        "--first-purchase",
        "2019-06-01",
    ]);
    s.ok(&["project", "create", "Mail", "--workload", "mail"]);
    let mail = tmp.path().join("mailboxes");
    maildir(&mail, "alex", 1);
    s.ok(&[
        "endpoint",
        "set",
        "source",
        &format!("maildir:{}", mail.display()),
    ]);
    let csv = tmp.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\nalex@contoso.example,alex,pw\n",
    )
    .unwrap();
    s.ok(&["mapping", "import", csv.to_str().unwrap()]);

    let creds = s.ok(&["credential", "list"]);
    assert!(
        creds.contains("mapping alex@contoso.example (source)"),
        "{creds}"
    );
    assert!(uuids(&creds).is_empty(), "ids instead of names:\n{creds}");

    let audit = s.ok(&["audit"]);
    assert!(audit.contains("project Mail"), "{audit}");
    assert!(audit.contains("endpoint source"), "{audit}");
    assert!(uuids(&audit).is_empty(), "ids instead of names:\n{audit}");

    // --json stays the server's answer, ids and all.
    let raw = s.ok(&["--json", "audit"]);
    assert!(!uuids(&raw).is_empty(), "{raw}");
}
