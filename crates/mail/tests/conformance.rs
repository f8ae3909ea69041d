//! The mail connector conformance suite (`ferry_testkit::conformance`) against every mail connector:
//! IMAP on a real Dovecot (both delimiters), Maildir on a temp dir, and mbox (read-only: the suite checks
//! that writes are refused).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use async_trait::async_trait;
use ferry_core::mail::{Access, MailConnector, Secret};
use ferry_mail::config::{ImapConfig, MailEndpoint};
use ferry_testkit::conformance::{ConformanceFactory, run_mail_conformance};
use ferry_testkit::{Dovecot, DovecotOptions};
use std::path::PathBuf;

struct Imap {
    endpoint: MailEndpoint,
}

#[async_trait]
impl ConformanceFactory for Imap {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn MailConnector>> {
        ferry_mail::open_mail(&self.endpoint, access).await
    }
}

fn imap_on(server: &Dovecot) -> Imap {
    server.add_user("conformance", "pw").unwrap();
    let cfg = ImapConfig::plain("127.0.0.1", server.port())
        .with_login(Some("conformance"), Secret::new("pw"))
        .unwrap();
    Imap {
        endpoint: MailEndpoint::Imap(cfg),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_connector_passes_the_mail_conformance_suite_with_slash_delimiter() {
    let server = Dovecot::start(DovecotOptions::default()).unwrap();
    run_mail_conformance(&imap_on(&server)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_connector_passes_the_mail_conformance_suite_with_dot_delimiter() {
    let server = Dovecot::start(DovecotOptions {
        separator: '.',
        special_use: false,
        ..DovecotOptions::default()
    })
    .unwrap();
    run_mail_conformance(&imap_on(&server)).await;
}

struct Local {
    endpoint: MailEndpoint,
}

#[async_trait]
impl ConformanceFactory for Local {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn MailConnector>> {
        ferry_mail::open_mail(&self.endpoint, access).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn maildir_connector_passes_the_mail_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("Maildir");
    // The suite opens read-only sessions too: the Maildir must exist first.
    drop(
        ferry_mail::open_mail(
            &MailEndpoint::Maildir { path: path.clone() },
            Access::ReadWrite,
        )
        .await
        .unwrap(),
    );
    run_mail_conformance(&Local {
        endpoint: MailEndpoint::Maildir { path },
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mbox_connector_refuses_writes_as_the_suite_expects_of_a_read_only_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox.mbox");
    std::fs::write(
        &path,
        b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n",
    )
    .unwrap();
    run_mail_conformance(&Local {
        endpoint: MailEndpoint::Mbox { path },
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exchange_online_target_passes_the_mail_conformance_suite_on_the_emulator() {
    use ferry_testkit::exchange::{ExchangeOptions, ExchangeShim};
    let shim = ExchangeShim::start(ExchangeOptions::default()).unwrap();
    let mailbox = "conformance@contoso.com";
    shim.add_mailbox(mailbox).unwrap();
    shim.allow_app("conformance-app", &[mailbox]);
    let MailEndpoint::Imap(cfg) = MailEndpoint::parse(&shim.url()).unwrap() else {
        panic!("exo:// is an IMAP endpoint")
    };
    let cfg = cfg
        .with_xoauth2(
            Some(mailbox),
            Secret::new(shim.app_token("conformance-app", 3600)),
        )
        .unwrap();
    run_mail_conformance(&Imap {
        endpoint: MailEndpoint::Imap(cfg),
    })
    .await;
}
