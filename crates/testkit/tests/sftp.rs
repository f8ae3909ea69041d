//! The SFTP harness against a real per-test sshd.

use ferry_testkit::port;
use ferry_testkit::sftp::SftpServer;
use std::io;

type R = io::Result<()>;

#[test]
fn sftp_server_accepts_the_client_key_and_writes_into_its_root() -> R {
    let server = SftpServer::start()?;
    assert!(server.root().is_absolute() && server.root().is_dir());
    assert!(server.host_key_pub().starts_with("ssh-ed25519 "));
    let known = std::fs::read_to_string(server.known_hosts_path())?;
    assert_eq!(
        known.trim(),
        format!("[127.0.0.1]:{} {}", server.port(), server.host_key_pub())
    );
    let local = server.temp_dir().join("local.txt");
    std::fs::write(&local, b"over sftp")?;
    let root = server.root().display().to_string();
    let out = server.sftp_batch(&format!(
        "mkdir \"{root}/a b\"\nput {} \"{root}/a b/copied.txt\"\nls -l \"{root}/a b\"\n",
        local.display()
    ))?;
    assert!(out.contains("copied.txt"), "{out}");
    assert_eq!(
        std::fs::read(server.root().join("a b/copied.txt"))?,
        b"over sftp"
    );
    assert!(
        server.log().contains("Accepted publickey"),
        "{}",
        server.log()
    );
    assert!(server.url().ends_with(&root), "{}", server.url());
    Ok(())
}

#[test]
fn sftp_server_keeps_the_mtime_a_client_sets() -> R {
    let server = SftpServer::start()?;
    let local = server.temp_dir().join("dated.txt");
    std::fs::write(&local, b"dated")?;
    let status = std::process::Command::new("touch")
        .args(["-m", "-d", "@1000000000"])
        .arg(&local)
        .status()?;
    assert!(status.success());
    let root = server.root().display().to_string();
    server.sftp_batch(&format!("put -p {} {root}/dated.txt\n", local.display()))?;
    let mtime = std::fs::metadata(server.root().join("dated.txt"))?.modified()?;
    let secs = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    assert_eq!(secs, 1_000_000_000);
    Ok(())
}

#[test]
fn two_sftp_servers_run_side_by_side_with_their_own_keys() -> R {
    let a = SftpServer::start()?;
    let b = SftpServer::start()?;
    assert_ne!(a.port(), b.port());
    assert_ne!(a.host_key_pub(), b.host_key_pub());
    assert_ne!(a.root(), b.root());
    a.sftp_batch("pwd\n")?;
    b.sftp_batch("pwd\n")?;
    Ok(())
}

#[test]
fn dropping_the_sftp_server_stops_it_and_deletes_its_dir() -> R {
    let server = SftpServer::start()?;
    let (addr, dir) = (server.addr(), server.temp_dir().to_path_buf());
    server.sftp_batch("pwd\n")?;
    // Its own listening socket is closed; not "a fresh connect fails", which races with a test beside
    // this one binding the freed port (issue 9, item 20).
    let sockets = port::listening_sockets(addr.port()).unwrap_or_default();
    drop(server);
    if port::listening_sockets(addr.port()).is_some() {
        assert!(!sockets.is_empty(), "the server never listened on {addr}");
        assert!(
            !port::still_listening(addr.port(), &sockets),
            "still listening"
        );
    }
    assert!(!dir.exists(), "temp dir left behind");
    Ok(())
}
