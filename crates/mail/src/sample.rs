//! The quickstart's sample source: a small, deterministic Maildir++ tree that exercises what real mailboxes
//! do to a migration tool.
//!
//! `ferry quickstart` copies this tree to a target so a newcomer sees every feature work in a minute without
//! a mail server. The tree is written through [`MaildirConnector`] itself (so it is exactly what the
//! connector reads back) and contains:
//! - INBOX (15 messages) with `\Seen`/`\Flagged`/`\Answered` and the keywords `$Label1` and `Work`, two
//!   byte-identical messages (a real duplicate: both must arrive), one message without a Message-ID, and
//!   one ~1 MB message with a base64 attachment;
//! - `Sent` and `Drafts` (well-known names, so special-use roles are guessed);
//! - `Archive/2023` and `Archive/2024` under a non-selectable `Archive` parent;
//! - two non-ASCII folders, `Données clients` and `日本語` (modified UTF-7 on disk);
//! - internal dates spread over 2023 and 2024.
//!
//! Message contents and dates are the same on every run; file names are not (they carry the time and
//! process id of the run, as Maildir requires), and neither are the derived `uid_validity` values.

use crate::maildir::MaildirConnector;
use base64::Engine as _;
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use ferry_core::folder::FolderPath;
use ferry_core::mail::{Access, AppendRequest, MailConnector};
use ferry_core::{Error, Result};
use std::path::{Path, PathBuf};

/// What [`write_sample_maildir`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// The Maildir root.
    pub root: PathBuf,
    /// Every folder, parents included, INBOX first.
    pub folders: Vec<SampleFolder>,
    /// Messages in all folders.
    pub messages: u32,
    /// Sum of the message sizes (CRLF bytes, as fetched).
    pub bytes: u64,
}

/// One folder of the sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleFolder {
    pub path: FolderPath,
    /// False for the `Archive` parent, which holds no messages.
    pub selectable: bool,
    pub messages: u32,
}

/// One message the sample appends.
struct Planned {
    bytes: Vec<u8>,
    flags: Vec<String>,
    date: DateTime<FixedOffset>,
}

/// Write the sample into `root`, which must not exist or be an empty directory (so running it twice never
/// mixes two samples).
pub async fn write_sample_maildir(root: &Path) -> Result<SampleInfo> {
    if let Ok(mut rd) = std::fs::read_dir(root)
        && rd.next().is_some()
    {
        return Err(Error::config(format!(
            "{} is not empty; the sample is written only into a new or empty directory",
            root.display()
        )));
    }
    let mut md = MaildirConnector::open(root, Access::ReadWrite)?;
    let mut info = SampleInfo {
        root: root.to_path_buf(),
        folders: Vec::new(),
        messages: 0,
        bytes: 0,
    };
    for (path, plan) in plan() {
        md.create_folder(&path, None).await?;
        let requests: Vec<AppendRequest<'_>> = plan
            .iter()
            .map(|p| AppendRequest {
                bytes: &p.bytes,
                flags: &p.flags,
                internal_date: Some(p.date),
            })
            .collect();
        for result in md.append(&path, &requests).await? {
            result?;
        }
        let count = u32::try_from(plan.len()).unwrap_or(u32::MAX);
        info.messages += count;
        info.bytes += plan.iter().map(|p| p.bytes.len() as u64).sum::<u64>();
        if let Some(parent) = path.parent()
            && !info.folders.iter().any(|f| f.path == parent)
        {
            info.folders.push(SampleFolder {
                path: parent,
                selectable: false,
                messages: 0,
            });
        }
        info.folders.push(SampleFolder {
            path,
            selectable: true,
            messages: count,
        });
    }
    md.close().await?;
    Ok(info)
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The folders and their messages, in writing order.
fn plan() -> Vec<(FolderPath, Vec<Planned>)> {
    let mut out = Vec::new();

    let mut inbox = Vec::new();
    let inbox_flags: [&[&str]; 12] = [
        &["\\Seen"],
        &["\\Seen", "\\Flagged"],
        &[],
        &["\\Seen"],
        &["\\Seen", "\\Answered", "Work"],
        &["$Label1"],
        &["\\Seen", "$Label1", "Work"],
        &[],
        &["\\Seen", "\\Answered"],
        &["\\Flagged", "Work"],
        &["\\Seen"],
        &[],
    ];
    for (i, f) in inbox_flags.iter().enumerate() {
        // Message 3 has no Message-ID (fingerprinted by its other headers and size).
        let bytes = synth_message(1, i, 900 + 173 * i, i != 3);
        inbox.push(Planned {
            bytes,
            flags: flags(f),
            date: synth_date(1, i),
        });
    }
    // Two byte-identical copies of the same message: a real duplicate in the source, both must be copied.
    let dup = synth_message(1, 100, 1500, true);
    for _ in 0..2 {
        inbox.push(Planned {
            bytes: dup.clone(),
            flags: flags(&["\\Seen"]),
            date: synth_date(1, 100),
        });
    }
    inbox.push(Planned {
        bytes: attachment_message(1),
        flags: flags(&["\\Seen", "\\Flagged"]),
        date: synth_date(1, 200),
    });
    out.push((FolderPath::inbox(), inbox));

    let simple = |seed: u64, n: usize, f: &[&str]| -> Vec<Planned> {
        (0..n)
            .map(|i| Planned {
                bytes: synth_message(seed, i, 700 + 311 * i, true),
                flags: flags(f),
                date: synth_date(seed, i),
            })
            .collect()
    };
    out.push((FolderPath(vec!["Sent".into()]), simple(2, 4, &["\\Seen"])));
    out.push((
        FolderPath(vec!["Drafts".into()]),
        simple(3, 2, &["\\Draft"]),
    ));
    for (seed, year) in [(4u64, 2023i32), (5, 2024)] {
        let msgs = (0..5)
            .map(|i| {
                let date = fixed(
                    year,
                    1 + (i as u32 * 2) % 12,
                    3 + i as u32 * 5,
                    9 + i as u32,
                );
                Planned {
                    bytes: build_message(seed, i, 800 + 97 * i, true, date),
                    flags: flags(&["\\Seen"]),
                    date,
                }
            })
            .collect();
        out.push((FolderPath(vec!["Archive".into(), year.to_string()]), msgs));
    }
    out.push((
        FolderPath(vec!["Données clients".into()]),
        simple(6, 3, &["\\Seen", "Work"]),
    ));
    out.push((FolderPath(vec!["日本語".into()]), simple(7, 2, &[])));
    out
}

fn fixed(year: i32, month: u32, day: u32, hour: u32) -> DateTime<FixedOffset> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

/// A deterministic date in 2023–2024 for message `index` of `seed`.
fn synth_date(seed: u64, index: usize) -> DateTime<FixedOffset> {
    let mut rng = Rng::new(seed, index);
    let minutes = rng.next() % (730 * 24 * 60);
    fixed(2023, 1, 1, 0) + Duration::minutes(i64::try_from(minutes).unwrap_or(0))
}

/// SplitMix64: small, fast, deterministic everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: usize) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (index as u64).wrapping_add(0x632b_e59b_d9b4_e019))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

const WORDS: [&str; 24] = [
    "migration",
    "mailbox",
    "folder",
    "schedule",
    "report",
    "pilot",
    "server",
    "target",
    "source",
    "budget",
    "meeting",
    "invoice",
    "quarter",
    "review",
    "draft",
    "project",
    "release",
    "customer",
    "contract",
    "delivery",
    "update",
    "question",
    "summary",
    "plan",
];
const PEOPLE: [(&str, &str); 5] = [
    ("Bob Martin", "bob"),
    ("Chloé Dubois", "chloe"),
    ("Dmitri Ivanov", "dmitri"),
    ("Emma Schmidt", "emma"),
    ("Hiro Tanaka", "hiro"),
];

/// A deterministic RFC 5322 message with CRLF line endings: the same `(seed, index, size, with_message_id)`
/// always gives the same bytes. `size` is the exact length when it is larger than the header block (about
/// 300 bytes); otherwise the message is the header block and an empty body. The body is plain ASCII text
/// with lines under 78 characters, and never a line starting with `From ` (so it is mbox-safe too).
pub fn synth_message(seed: u64, index: usize, size: usize, with_message_id: bool) -> Vec<u8> {
    build_message(seed, index, size, with_message_id, synth_date(seed, index))
}

fn build_message(
    seed: u64,
    index: usize,
    size: usize,
    with_message_id: bool,
    date: DateTime<FixedOffset>,
) -> Vec<u8> {
    let mut rng = Rng::new(seed, index);
    let (name, user) = PEOPLE[(rng.next() % PEOPLE.len() as u64) as usize];
    let subject = format!("{} {} #{index}", rng.pick(&WORDS), rng.pick(&WORDS));
    let mut out = String::new();
    // Non-ASCII display names are RFC 2047-encoded, as a real client would send them.
    let display = if name.is_ascii() {
        name.to_owned()
    } else {
        format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name)
        )
    };
    out.push_str(&format!("From: {display} <{user}@example.com>\r\n"));
    out.push_str("To: Alice Example <alice@example.org>\r\n");
    out.push_str(&format!("Subject: {subject}\r\n"));
    out.push_str(&format!("Date: {}\r\n", date.to_rfc2822()));
    if with_message_id {
        out.push_str(&format!(
            "Message-ID: <{seed:x}.{index}.sample@ferry.invalid>\r\n"
        ));
    }
    out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    let mut bytes = out.into_bytes();
    let mut remaining = size.saturating_sub(bytes.len());
    while remaining >= 2 {
        // Line length (without CRLF): at most 72, and never leave 1 byte that cannot hold a CRLF.
        let mut len = remaining.saturating_sub(2).min(72);
        if remaining - (len + 2) == 1 {
            len -= 1;
        }
        let mut line = String::new();
        while line.len() < len {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(rng.pick(&WORDS));
        }
        line.truncate(len);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        remaining -= len + 2;
    }
    bytes
}

/// A ~1 MB multipart message with a base64 attachment (deterministic).
fn attachment_message(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed, 999);
    let mut payload = Vec::with_capacity(760 * 1024);
    while payload.len() < 760 * 1024 {
        payload.extend_from_slice(&rng.next().to_le_bytes());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&payload);
    let date = synth_date(seed, 200);
    let mut out = format!(
        "From: Emma Schmidt <emma@example.com>\r\nTo: Alice Example <alice@example.org>\r\n\
         Subject: Quarterly export (attachment)\r\nDate: {}\r\nMessage-ID: <{seed:x}.attachment.sample@ferry.invalid>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"ferry-sample-boundary\"\r\n\r\n\
         --ferry-sample-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         The export is attached.\r\n\r\n\
         --ferry-sample-boundary\r\nContent-Type: application/octet-stream; name=\"export.bin\"\r\n\
         Content-Disposition: attachment; filename=\"export.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        date.to_rfc2822()
    )
    .into_bytes();
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--ferry-sample-boundary--\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_messages_are_deterministic_exact_size_and_crlf() {
        for size in [0, 100, 400, 401, 402, 1000, 5000] {
            let a = synth_message(9, 3, size, true);
            assert_eq!(a, synth_message(9, 3, size, true));
            if size > 400 {
                assert_eq!(a.len(), size);
            }
            for (i, &b) in a.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(
                        a.get(i.wrapping_sub(1)),
                        Some(&b'\r'),
                        "bare LF at {i} (size {size})"
                    );
                }
            }
            assert!(
                a.split(|&b| b == b'\n')
                    .all(|l| l.len() <= 78 && !l.starts_with(b"From "))
            );
        }
        assert_ne!(
            synth_message(9, 3, 500, true),
            synth_message(9, 4, 500, true)
        );
        let no_id = synth_message(9, 3, 500, false);
        assert_eq!(
            ferry_core::fingerprint::parse_headers(&no_id).message_id,
            None
        );
    }

    #[test]
    fn the_attachment_message_is_about_a_megabyte() {
        let m = attachment_message(1);
        assert!((1_000_000..1_100_000).contains(&m.len()), "{}", m.len());
    }
}
