//! What every test module shares: an emulator with one user, a keep-alive client, JSON helpers.

pub use ferry_testkit::graph::{
    DeltaResync, GraphEmulator, GraphOptions, SessionStatus, ThrottleOptions, quick_xor_hash,
};
pub use ferry_testkit::http::{Body, HttpResponse, RawHttp};
pub use serde_json::{Value, json};
pub use std::io;
pub use std::time::Duration;

pub type R = io::Result<()>;

pub struct T {
    pub g: GraphEmulator,
    pub c: RawHttp,
    pub auth: String,
    pub drive: String,
}

pub fn setup(opts: GraphOptions) -> io::Result<T> {
    let g = GraphEmulator::start(opts)?;
    let drive = g.add_user("alice@contoso.com");
    let c = RawHttp::connect(g.addr())?;
    let auth = format!("Bearer {}", g.token());
    Ok(T { g, c, auth, drive })
}

pub fn body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

pub fn code(r: &HttpResponse) -> String {
    body(r)["error"]["code"].as_str().unwrap_or("").to_owned()
}

pub fn inner(r: &HttpResponse) -> String {
    body(r)["error"]["innerError"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

impl T {
    pub fn req(&mut self, method: &str, path: &str, b: Body<'_>) -> io::Result<HttpResponse> {
        let target = if path.starts_with("http") {
            path.split_once("//")
                .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
                .unwrap_or_default()
        } else {
            format!("/v1.0{path}")
        };
        let auth = self.auth.clone();
        self.c.request(
            method,
            &target,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            b,
        )
    }

    pub fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        self.req("GET", path, Body::None)
    }

    pub fn json(&mut self, method: &str, path: &str, v: &Value) -> io::Result<HttpResponse> {
        let s = v.to_string();
        self.req(method, path, Body::Bytes(s.as_bytes()))
    }

    pub fn put(&mut self, path: &str, bytes: &[u8]) -> io::Result<HttpResponse> {
        self.req("PUT", path, Body::Bytes(bytes))
    }

    pub fn d(&self) -> String {
        format!("/drives/{}", self.drive)
    }

    /// A request to an upload URL (absolute), without Authorization.
    pub fn upload(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        b: Body<'_>,
    ) -> io::Result<HttpResponse> {
        let target = url
            .split_once("//")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .unwrap_or_default();
        RawHttp::connect(self.g.addr())?.request(method, &target, headers, b)
    }

    pub fn fragment(
        &mut self,
        url: &str,
        data: &[u8],
        start: u64,
        total: u64,
    ) -> io::Result<HttpResponse> {
        let range = format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1);
        self.upload(
            "PUT",
            url,
            &[("Content-Range", range.as_str())],
            Body::Bytes(data),
        )
    }

    pub fn session(&mut self, path: &str, item: Value) -> io::Result<String> {
        let d = self.d();
        let r = self.json(
            "POST",
            &format!("{d}/root:/{path}:/createUploadSession"),
            &json!({ "item": item }),
        )?;
        assert_eq!(r.status, 200, "{}", r.text());
        Ok(body(&r)["uploadUrl"].as_str().unwrap_or("").to_owned())
    }
}

pub const MULT: usize = 327_680;

pub fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}
