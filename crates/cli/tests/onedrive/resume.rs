//! A big upload killed (`SIGKILL`) part-way, and the re-run that resumes it at the first missing range —
//! also when the service is still receiving the killed run's last fragment as the re-run starts.

use super::common::{code, ferry, ferry_command, text};
use super::{CHUNK, UPN, big, drive_tree, local_tree, target, write};
use ferry_testkit::graph::{GraphEmulator, GraphOptions, SessionInfo};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A source of one big file (`chunks` fragments and a bit) and 20 small ones, and a first
/// `ferry files migrate` into `K` killed once 5 fragments of the big file are in.
struct Killed {
    emu: GraphEmulator,
    drive: String,
    src: PathBuf,
    data: PathBuf,
    bytes: Vec<u8>,
    token: String,
    url: String,
    _dir: tempfile::TempDir,
}

impl Killed {
    fn new(chunks: usize) -> Killed {
        let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
        let drive = emu.add_user(UPN);
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = (dir.path().join("src"), dir.path().join("data"));
        let bytes = big(chunks * CHUNK as usize + 777, 9);
        write(&src, "huge.bin", &bytes);
        for i in 0..20 {
            write(
                &src,
                &format!("small/f{i}.txt"),
                format!("small {i}").as_bytes(),
            );
        }
        let (token, url) = (emu.token(), target(&emu, "K"));
        let k = Killed {
            emu,
            drive,
            src,
            data,
            bytes,
            token,
            url,
            _dir: dir,
        };
        let mut child = k
            .command(&[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill (SIGKILL) once a few fragments of the big file are in, but not all.
        let deadline = Instant::now() + Duration::from_secs(60);
        while k.big_session().map_or(0, |s| s.accepted.len()) < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        let _ = child.wait();
        let at_kill = k.big_session().map_or(0, |s| s.received);
        assert!(
            at_kill > 0 && at_kill < k.bytes.len() as u64,
            "killed mid-upload: {at_kill}"
        );
        k
    }

    fn command(&self, more: &[&str]) -> std::process::Command {
        let mut args = vec!["files", "migrate", self.src.to_str().unwrap(), &self.url];
        args.extend_from_slice(more);
        ferry_command(
            &self.data,
            &args,
            &[("FERRY_TARGET_TOKEN", self.token.as_str())],
        )
    }

    /// A re-run's output with what explains a failure: the report's problems (each failed file's
    /// reason) and the big file's session as the emulator saw it.
    fn explain(&self, out: &std::process::Output) -> String {
        let report = ferry(&self.data, &["report", "--json"], &[]);
        let problems = serde_json::from_slice::<serde_json::Value>(&report.stdout)
            .map(|r| r["files"][0]["problems"].to_string())
            .unwrap_or_else(|_| text(&report));
        format!(
            "{}\n--- problems\n{problems}\n--- session\n{:?}",
            text(out),
            self.big_session()
        )
    }

    /// The upload session of the big file.
    fn big_session(&self) -> Option<SessionInfo> {
        let total = Some(self.bytes.len() as u64);
        let mut s: Vec<_> = self
            .emu
            .sessions()
            .into_iter()
            .filter(|s| s.total == total)
            .collect();
        assert!(s.len() <= 1, "one session carries the big file: {s:?}");
        s.pop()
    }

    /// The target equals the source, and one session carried the big file: each range accepted once, in
    /// order, the re-run starting where the killed run stopped.
    fn assert_whole(&self) {
        assert_eq!(
            drive_tree(&self.emu, &self.drive, "K"),
            local_tree(&self.src)
        );
        let s = self.big_session().unwrap();
        let starts: Vec<u64> = s.accepted.iter().map(|a| a.0).collect();
        let chunks = self.bytes.len() as u64 / CHUNK;
        let want: Vec<u64> = (0..=chunks).map(|i| i * CHUNK).collect();
        assert_eq!(starts, want, "every range once, in order");
    }
}

#[test]
fn kill_9_during_a_big_upload_then_rerun_resumes_at_the_first_missing_range() {
    let k = Killed::new(40);
    let out = k.command(&["--json"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", k.explain(&out));
    k.assert_whole();
}

/// The interleaving behind a flaky failure under load: the killed run's last fragment is still arriving
/// when the re-run asks the session where it stands, so the re-run's own send of that range is refused
/// (`416`) until the service sees the dead connection close. That is worth waiting for, never the file's
/// failure.
#[test]
fn a_fragment_the_killed_run_is_still_sending_delays_the_rerun_but_never_fails_the_file() {
    let k = Killed::new(12);
    let s = k.big_session().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while k.emu.receiving(&s.id) {
        assert!(
            Instant::now() < deadline,
            "the killed run's request never ended"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let s = k.big_session().unwrap();
    let at = s.received;
    let stalled = k
        .emu
        .stall_fragment(
            &k.emu.upload_url(&s.id),
            at,
            CHUNK,
            k.bytes.len() as u64,
            &k.bytes[at as usize..at as usize + 1000],
        )
        .unwrap();
    let mut rerun = k
        .command(&["--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Held until the re-run has been refused that range three times in a row (where it used to give
    // the file up), or has ended.
    let deadline = Instant::now() + Duration::from_secs(60);
    while k.big_session().unwrap().refused.len() < 3
        && rerun.try_wait().unwrap().is_none()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    stalled.close();
    let out = rerun.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", k.explain(&out));
    let refused = k.big_session().unwrap().refused;
    assert!(
        refused.len() >= 3 && refused.iter().all(|r| *r == (at, at + CHUNK - 1, 416)),
        "{refused:?}"
    );
    k.assert_whole();
}
