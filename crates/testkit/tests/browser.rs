//! The browser harness itself: a headless Chromium driven over WebDriver loads a page from a loopback
//! server, runs its script, is clicked, and leaves a PNG screenshot as a test artefact.

use fantoccini::Locator;
use ferry_testkit::browser::Browser;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = "<!doctype html><html><head><title>harness</title></head><body>\
<h1 id=greeting>Hello from loopback</h1>\
<button id=go onclick=\"document.getElementById('greeting').textContent='Clicked'\">Go</button>\
</body></html>";

/// A one-page HTTP server on a kernel-chosen loopback port; every request gets `PAGE`.
async fn serve_page() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(format!("http://{addr}/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_chromium_loads_a_loopback_page_runs_its_script_and_saves_a_screenshot() {
    let Some(browser) = Browser::start("browser_harness")
        .await
        .expect("browser starts")
    else {
        return;
    };
    let url = serve_page().await.expect("page server");
    browser.goto(&url).await.expect("navigate");
    assert_eq!(browser.title().await.expect("title"), "harness");
    let greeting = browser
        .find(Locator::Id("greeting"))
        .await
        .expect("heading");
    assert_eq!(greeting.text().await.expect("text"), "Hello from loopback");

    browser
        .find(Locator::Id("go"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    assert_eq!(greeting.text().await.expect("text"), "Clicked");

    let shot = browser.screenshot("after click").await.expect("screenshot");
    assert!(
        shot.ends_with("browser_harness/after_click.png"),
        "{}",
        shot.display()
    );
    let png = std::fs::read(&shot).expect("screenshot file");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 1_000, "a real image, {} bytes", png.len());
    browser.close().await.expect("session closes");
}
