//! Standard output that may be closed early: `ferry report | head -1` (issue 9, item 18).
//!
//! Rust ignores SIGPIPE, so a write into a closed pipe fails with `BrokenPipe`, and `println!` turns that
//! into a panic. A reader that stopped reading is not an error of Ferry's: the command stops writing and
//! exits quietly with 0, as `ripgrep` does. Writers that return errors (CSV, JSON) check
//! [`exit_if_closed`]; every `println!` is covered by the panic hook of [`exit_quietly_on_closed_pipe`].

use std::io;

/// Install a panic hook that turns "failed printing to stdout: Broken pipe" into a quiet exit; every
/// other panic is reported as before.
pub fn exit_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_pipe_message(payload) {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn is_closed_pipe_message(m: &str) -> bool {
    m.starts_with("failed printing to stdout") && m.contains("Broken pipe")
}

/// Exit quietly when `e` says stdout's reader went away.
pub fn exit_if_closed(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_is_taken_for_a_closed_pipe() {
        assert!(is_closed_pipe_message(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_pipe_message("index out of bounds"));
        assert!(!is_closed_pipe_message(
            "failed printing to stdout: No space left on device"
        ));
    }
}
