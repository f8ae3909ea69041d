//! The benchmark corpus: the shape of a real mailbox, with deterministic bytes.
//!
//! Each user gets the same folder tree (INBOX, the special-use Sent and Archive, nested Archive and
//! Projects folders) with messages spread over it by fixed weights. Sizes are log-uniform between 2 and
//! 50 KB (most mail is small), about 1 % of the messages carry a 1–5 MB attachment (those dominate the
//! bytes), flags cycle through system flags and keywords, and internal dates spread over six years. The
//! same `(seed, users, messages)` always gives the same bytes, so runs on different days compare.

use ferry_testkit::{Dovecot, SeedMessage, corpus};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Folders every user gets, parents before children, with the share of the user's messages (percent).
const FOLDERS: [(&str, usize); 7] = [
    ("INBOX", 40),
    ("Sent", 20),
    ("Archive/2022", 10),
    ("Archive/2023", 10),
    ("Projects", 5),
    ("Projects/Ferry", 10),
    ("Projects/Ferry/Specs", 5),
];

/// Seeding threads: Dovecot's own processes need the remaining CPU.
const SEED_THREADS: usize = 3;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub users: usize,
    pub messages_per_user: usize,
    pub seed: u64,
}

/// What was generated.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seeded {
    pub messages: u64,
    pub bytes: u64,
    pub attachments: u64,
}

/// Login name of user `i` (0-based), address-shaped: Ferry's mapping CSV names target mailboxes by
/// e-mail address, and every server (source and both targets) has the same users.
pub fn user_name(i: usize) -> String {
    format!("user{:02}@bench.test", i + 1)
}

/// Password of `user` on every server of the benchmark (test servers on loopback only).
pub fn password(user: &str) -> String {
    format!("bench-{user}-pw")
}

/// How many of `total` messages go to folder `f`: by weight, the remainder to INBOX.
fn split(total: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = FOLDERS.iter().map(|(_, w)| total * w / 100).collect();
    let assigned: usize = counts.iter().sum();
    counts[0] += total - assigned;
    counts
}

/// The messages of one folder of one user.
fn folder_messages(shape: &Shape, user: usize, folder: usize, n: usize) -> Vec<SeedMessage> {
    // Distinct corpus seeds give distinct Message-IDs across users and folders.
    let corpus_seed = shape.seed * 1_000_000 + (user as u64) * 100 + folder as u64;
    let mut rng = fastrand::Rng::with_seed(corpus_seed);
    (0..n)
        .map(|i| {
            let bytes = if rng.u32(..100) == 0 {
                // The encoded message is about 4/3 of the attachment: 1–5 MB on the wire.
                let wire = rng.usize(1_000_000..=5_000_000);
                corpus::message_with_attachment(corpus_seed, i, wire * 3 / 4)
            } else {
                let size = 2_000.0 * 25f64.powf(rng.f64());
                corpus::message(corpus_seed, i, size as usize)
            };
            SeedMessage {
                bytes,
                flags: corpus::flags_for(i + folder),
                internal_date: Some(internal_date(&mut rng)),
            }
        })
        .collect()
}

/// A random RFC 3501 date-time between 2019 and 2024, in one of a few time zones.
fn internal_date(rng: &mut fastrand::Rng) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const ZONES: [&str; 4] = ["+0000", "+0100", "-0500", "+0530"];
    format!(
        "{:02}-{}-{} {:02}:{:02}:{:02} {}",
        rng.u32(1..=28),
        MONTHS[rng.usize(..12)],
        rng.u32(2019..=2024),
        rng.u32(..24),
        rng.u32(..60),
        rng.u32(..60),
        ZONES[rng.usize(..ZONES.len())]
    )
}

/// Add every user to `server` (with [`password`]) and append their mail, a few users at a time.
/// `interrupted` is checked between folders.
pub fn seed(
    server: &Dovecot,
    shape: &Shape,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> io::Result<Seeded> {
    for u in 0..shape.users {
        let name = user_name(u);
        server.add_user(&name, &password(&name))?;
    }
    let next = AtomicUsize::new(0);
    let results: Vec<io::Result<Seeded>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..SEED_THREADS.min(shape.users).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut total = Seeded::default();
                    loop {
                        let u = next.fetch_add(1, Ordering::Relaxed);
                        if u >= shape.users {
                            return Ok(total);
                        }
                        let name = user_name(u);
                        let counts = split(shape.messages_per_user);
                        for (f, ((folder, _), n)) in FOLDERS.iter().zip(counts).enumerate() {
                            if interrupted() {
                                return Err(io::Error::new(
                                    io::ErrorKind::Interrupted,
                                    "interrupted",
                                ));
                            }
                            let msgs = folder_messages(shape, u, f, n);
                            total.messages += msgs.len() as u64;
                            total.bytes += msgs.iter().map(|m| m.bytes.len() as u64).sum::<u64>();
                            total.attachments +=
                                msgs.iter().filter(|m| m.bytes.len() > 900_000).count() as u64;
                            server.seed(&name, folder, &msgs).map_err(|e| {
                                io::Error::new(e.kind(), format!("seeding {name} {folder}: {e}"))
                            })?;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a seeding thread panicked")))
            })
            .collect()
    });
    let mut total = Seeded::default();
    for r in results {
        let r = r?;
        total.messages += r.messages;
        total.bytes += r.bytes;
        total.attachments += r.attachments;
    }
    Ok(total)
}

/// Messages in all selectable folders of `user` (LIST, then EXAMINE each: reads no bodies).
pub fn count_messages(server: &Dovecot, user: &str) -> io::Result<u64> {
    let mut c = server.connect(user)?;
    let mut total = 0u64;
    for entry in c.list()? {
        if entry.selectable() {
            total += u64::from(c.examine(&entry.name)?.exists);
        }
    }
    c.logout();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_assigns_every_message_once() {
        for n in [0, 1, 7, 300, 2_000, 2_001] {
            assert_eq!(split(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn folder_messages_are_deterministic_and_mostly_small() {
        let shape = Shape {
            users: 1,
            messages_per_user: 2_000,
            seed: 1,
        };
        let a = folder_messages(&shape, 0, 0, 800);
        assert_eq!(a, folder_messages(&shape, 0, 0, 800));
        let small = a
            .iter()
            .filter(|m| (1_900..=51_000).contains(&m.bytes.len()))
            .count();
        assert!(small >= 760, "{small} of 800 are 2–50 KB");
    }
}
