//! 50 clients creating, changing and cancelling events on one project at once (issue 4 "Tests that must
//! exist"): afterwards the store must be exactly what the successful requests, applied one at a time in the
//! order the server committed them, would have made — and every response must show the state as of its own
//! request.
//!
//! The order comes from the audit log (its `seq` is the commit order, since every change holds the write
//! lock until it commits); a request is matched to its audit entry by the `x-request-id` response header.
//! The manual clock stands still, so the schedule rules decide the same way whatever the interleaving.

// Test helpers unwrap freely: a panic is a failure with its message (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{OPERATOR_TOKEN, TestServer, monday};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

const CLIENTS: usize = 50;
const OPS_PER_CLIENT: usize = 10;
const MAPPINGS: usize = 20;

/// A tiny deterministic generator (xorshift64*), one per client.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn some(&mut self, v: &[String], max: usize) -> Vec<String> {
        let n = 1 + self.below(max);
        let mut out: Vec<String> = (0..n).map(|_| self.pick(v).clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        name: String,
        start: DateTime<Utc>,
        mappings: Vec<String>,
    },
    Change {
        event: String,
        name: Option<String>,
        start: Option<DateTime<Utc>>,
        add: Vec<String>,
        remove: Vec<String>,
    },
    Cancel {
        event: String,
    },
}

/// One request and what came back.
#[derive(Debug)]
struct Done {
    op: Op,
    status: u16,
    request_id: String,
    body: Value,
}

/// What the replay expects an event to be.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    name: String,
    start: DateTime<Utc>,
    cancelled: bool,
    mappings: BTreeSet<String>,
}

impl Model {
    fn of(body: &Value) -> Model {
        Model {
            name: body["name"].as_str().unwrap().to_string(),
            start: body["start"].as_str().unwrap().parse().unwrap(),
            cancelled: body["state"] == "cancelled",
            mappings: body["mappings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect(),
        }
    }
}

struct Shared {
    s: TestServer,
    tokens: Vec<String>,
    base: String,
    mappings: Vec<String>,
    /// Every event created so far, with the mappings last seen in an answer.
    events: Mutex<BTreeMap<String, Vec<String>>>,
    done: Mutex<Vec<Done>>,
}

async fn send(sh: &Shared, token: &str, op: Op) {
    let (method, path, body) = match &op {
        Op::Create {
            name,
            start,
            mappings,
        } => (
            reqwest::Method::POST,
            format!("{}/events", sh.base),
            json!({ "name": name, "kind": "synchronization", "start": start, "mappings": mappings }),
        ),
        Op::Change {
            event,
            name,
            start,
            add,
            remove,
        } => {
            let mut b = json!({});
            if let Some(n) = name {
                b["name"] = json!(n);
            }
            if let Some(t) = start {
                b["start"] = json!(t);
            }
            if !add.is_empty() {
                b["add"] = json!(add);
            }
            if !remove.is_empty() {
                b["remove"] = json!(remove);
            }
            (
                reqwest::Method::PATCH,
                format!("{}/events/{event}", sh.base),
                b,
            )
        }
        Op::Cancel { event } => (
            reqwest::Method::POST,
            format!("{}/events/{event}/cancel", sh.base),
            json!({}),
        ),
    };
    let resp =
        sh.s.http
            .request(method, format!("{}{path}", sh.s.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer has a request id")
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if (200..300).contains(&status) {
        let e = &body["result"];
        let id = e["id"].as_str().unwrap().to_string();
        let ms = Model::of(e).mappings.into_iter().collect();
        sh.events.lock().unwrap().insert(id, ms);
    }
    sh.done.lock().unwrap().push(Done {
        op,
        status,
        request_id,
        body,
    });
}

async fn client(sh: Arc<Shared>, n: usize) {
    let mut rng = Rng::new(n as u64 + 1);
    let token = sh.tokens[n % sh.tokens.len()].clone();
    let first_start = monday() + TimeDelta::days(7);
    let create = |rng: &mut Rng| Op::Create {
        name: format!("wave {n}"),
        start: first_start + TimeDelta::hours(rng.below(48) as i64),
        mappings: rng.some(&sh.mappings, 5),
    };
    let op = create(&mut rng);
    send(&sh, &token, op).await;
    for _ in 0..OPS_PER_CLIENT {
        let events: Vec<(String, Vec<String>)> = sh
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (event, seen) = rng.pick(&events).clone();
        let op = match rng.below(20) {
            0 => create(&mut rng),
            1 => Op::Cancel { event },
            2..=8 => Op::Change {
                event,
                name: None,
                start: None,
                add: rng.some(&sh.mappings, 3),
                remove: Vec::new(),
            },
            9..=13 if !seen.is_empty() => Op::Change {
                event,
                name: None,
                start: None,
                add: Vec::new(),
                remove: rng.some(&seen, 2),
            },
            14 | 15 => Op::Change {
                event,
                name: None,
                start: Some(monday() + TimeDelta::hours(96 + rng.below(24 * 6) as i64)),
                add: Vec::new(),
                remove: Vec::new(),
            },
            16 if !seen.is_empty() => Op::Change {
                event,
                name: Some(format!("moved by {n}")),
                start: Some(monday() + TimeDelta::hours(96 + rng.below(24 * 6) as i64)),
                add: rng.some(&sh.mappings, 2),
                remove: rng.some(&seen, 1),
            },
            _ => Op::Change {
                event,
                name: Some(format!("renamed by {n} {}", rng.below(1000))),
                start: None,
                add: Vec::new(),
                remove: Vec::new(),
            },
        };
        send(&sh, &token, op).await;
    }
}

/// Apply `op` to `m` as the server's rules would, or `None` when the server must refuse it.
fn apply(m: &Model, op: &Op) -> Option<Model> {
    let mut next = m.clone();
    match op {
        Op::Create { .. } => return None,
        Op::Cancel { .. } => next.cancelled = true,
        Op::Change {
            name,
            start,
            add,
            remove,
            ..
        } => {
            if m.cancelled || remove.iter().any(|r| !m.mappings.contains(r)) {
                return None;
            }
            next.mappings.extend(add.iter().cloned());
            for r in remove {
                next.mappings.remove(r);
            }
            if next.mappings.is_empty() {
                return None;
            }
            if let Some(n) = name {
                next.name = n.clone();
            }
            if let Some(t) = start {
                next.start = *t;
            }
        }
    }
    Some(next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_changing_events_at_once_leave_a_consistent_store() {
    let s = TestServer::start().await;
    let t = s.tenant("Contoso", 800).await;
    let p = s
        .post(
            OPERATOR_TOKEN,
            &format!("/api/v1/tenants/{t}/projects"),
            json!({ "name": "mail", "workload": "mail" }),
        )
        .await
        .ok();
    let pid = p["result"]["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/tenants/{t}/projects/{pid}");
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": "maildir:/srv/mail" }),
    )
    .await
    .ok();
    for g in p["result"]["open_gates"].as_array().unwrap() {
        let g = g.as_str().unwrap();
        s.post(
            OPERATOR_TOKEN,
            &format!("{base}/gates/{g}/confirm"),
            json!({}),
        )
        .await
        .ok();
    }
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for i in 0..MAPPINGS {
        csv.push_str(&format!("user{i}@contoso.com,user{i},pw{i}\n"));
    }
    s.post(
        OPERATOR_TOKEN,
        &format!("{base}/mappings"),
        json!({ "csv": csv }),
    )
    .await
    .ok();
    let mappings: Vec<String> = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok()["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(mappings.len(), MAPPINGS);
    let mut tokens = Vec::new();
    for i in 0..3 {
        tokens.push(s.member(&t, &format!("admin{i}"), "customer-admin").await);
        tokens.push(s.member(&t, &format!("partner{i}"), "partner").await);
    }
    let audit_before = audit(&s, &t).await.len();

    let sh = Arc::new(Shared {
        s,
        tokens,
        base,
        mappings,
        events: Mutex::new(BTreeMap::new()),
        done: Mutex::new(Vec::new()),
    });
    // Every client creates its first event before any changes: a barrier of sorts, then the storm.
    let mut handles = Vec::new();
    for n in 0..CLIENTS {
        let sh = sh.clone();
        handles.push(tokio::spawn(async move { client(sh, n).await }));
    }
    for h in handles {
        h.await.expect("a client finished");
    }
    let done = std::mem::take(&mut *sh.done.lock().unwrap());
    let s = &sh.s;
    assert_eq!(done.len(), CLIENTS * (OPS_PER_CLIENT + 1));

    // No 5xx; every refusal is an API error.
    let server_errors: Vec<&Done> = done.iter().filter(|d| d.status >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "server errors: {server_errors:#?}"
    );
    for d in done.iter().filter(|d| d.status >= 400) {
        assert!(
            matches!(d.status, 400 | 404 | 409),
            "unexpected refusal: {d:?}"
        );
        assert!(d.body["kind"].is_string(), "{d:?}");
    }
    let ok: Vec<&Done> = done.iter().filter(|d| d.status < 300).collect();
    let by_request: HashMap<&str, &Done> =
        done.iter().map(|d| (d.request_id.as_str(), d)).collect();
    assert_eq!(by_request.len(), done.len(), "request ids are unique");

    // One audit entry per successful change, none for a refused one, in commit order.
    let entries: Vec<Value> = audit(s, &t).await.split_off(audit_before);
    assert_eq!(
        entries.len(),
        ok.len(),
        "audit entries vs successful requests"
    );
    let mut audited = BTreeSet::new();
    for e in &entries {
        let rid = e["request_id"].as_str().unwrap();
        assert!(
            audited.insert(rid.to_string()),
            "two audit entries for {rid}"
        );
        let d = by_request
            .get(rid)
            .unwrap_or_else(|| panic!("audit entry for an unknown request: {e}"));
        assert!(d.status < 300, "a refused request was audited: {d:?} {e}");
    }

    // One completed transaction per successful change, each answered once.
    let txns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, action, status FROM prog_transaction WHERE action LIKE 'event.%'",
    )
    .fetch_all(s.sqlite_pool())
    .await
    .unwrap();
    assert_eq!(txns.len(), ok.len(), "transactions vs successful requests");
    let txn_ids: BTreeSet<&str> = txns.iter().map(|(id, _, _)| id.as_str()).collect();
    for d in &ok {
        let id = d.body["transaction"]["id"].as_str().unwrap();
        assert!(txn_ids.contains(id), "{d:?}");
        assert_eq!(d.body["transaction"]["status"], "completed");
    }
    let answered: BTreeSet<&str> = ok
        .iter()
        .map(|d| d.body["transaction"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(answered.len(), ok.len(), "a transaction id answered twice");

    // Replay the successful requests in commit order: each answer shows exactly the replayed state.
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for e in &entries {
        let d = by_request[e["request_id"].as_str().unwrap()];
        let answer = Model::of(&d.body["result"]);
        let id = d.body["result"]["id"].as_str().unwrap().to_string();
        let expected = match &d.op {
            Op::Create {
                name,
                start,
                mappings,
            } => {
                assert!(!models.contains_key(&id), "event {id} created twice");
                Model {
                    name: name.clone(),
                    start: *start,
                    cancelled: false,
                    mappings: mappings.iter().cloned().collect(),
                }
            }
            op => {
                let m = models
                    .get(&id)
                    .unwrap_or_else(|| panic!("a change of {id} before its creation"));
                apply(m, op).unwrap_or_else(|| {
                    panic!("the server accepted a change its rules refuse: {m:?} {d:?}")
                })
            }
        };
        assert_eq!(answer, expected, "answer vs replay for {d:?}");
        models.insert(id, expected);
    }

    // The store is the replay's end state: no lost, duplicated or half-applied change.
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT id, name, start_at, state FROM prog_event WHERE project_id = ?")
            .bind(sh.base.rsplit('/').next().unwrap())
            .fetch_all(s.sqlite_pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), models.len(), "events in the store vs created");
    for (id, name, start, state) in rows {
        let m = models
            .get(&id)
            .unwrap_or_else(|| panic!("event {id} in the store but never created"));
        let mapped: Vec<String> =
            sqlx::query_scalar("SELECT mapping_id FROM prog_event_mapping WHERE event_id = ?")
                .bind(&id)
                .fetch_all(s.sqlite_pool())
                .await
                .unwrap();
        let set: BTreeSet<String> = mapped.iter().cloned().collect();
        assert_eq!(set.len(), mapped.len(), "duplicate mapping rows for {id}");
        assert_eq!(set, m.mappings, "mappings of {id}");
        assert_eq!(name, m.name);
        assert_eq!(start.parse::<DateTime<Utc>>().unwrap(), m.start);
        assert_eq!(state == "cancelled", m.cancelled, "{id} is {state}");
        assert!(
            state == "cancelled" || !set.is_empty(),
            "event {id} is {state} with no mappings"
        );
    }

    // Refused requests left nothing behind and the mix exercised every path.
    let count = |f: &dyn Fn(&Done) -> bool| done.iter().filter(|d| f(d)).count();
    let changed_ok = count(&|d| matches!(d.op, Op::Change { .. }) && d.status < 300);
    let changed_refused = count(&|d| matches!(d.op, Op::Change { .. }) && d.status >= 400);
    let cancelled = models.values().filter(|m| m.cancelled).count();
    eprintln!(
        "{} requests: {} succeeded ({changed_ok} changes), {changed_refused} changes refused, {} events ({cancelled} cancelled)",
        done.len(),
        ok.len(),
        models.len()
    );
    assert!(changed_ok > 50, "{changed_ok} successful changes");
    assert!(changed_refused > 0, "no change was refused");
    assert!(
        cancelled > 0 && cancelled < models.len(),
        "{cancelled} cancelled"
    );

    // The API shows the same: every event through GET matches the store.
    let listed = s
        .get(OPERATOR_TOKEN, &format!("{}/events", sh.base))
        .await
        .ok();
    for e in listed["events"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(Model::of(e), models[id], "GET events: {id}");
    }
}

async fn audit(s: &TestServer, tenant: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .get(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{tenant}/audit?after={after}&limit=5000"),
            )
            .await
            .ok();
        let entries = page["entries"].as_array().unwrap().clone();
        if entries.is_empty() {
            return out;
        }
        after = entries.last().unwrap()["seq"].as_i64().unwrap();
        out.extend(entries);
    }
}

/// The other writes raced the same way: 50 clients confirming the same gate, adding the same new member,
/// importing overlapping mapping CSVs and supplying the same credential at once. Exactly one confirmation
/// changes the gate, one user is created, every mailbox is imported once, one credential row is left, and
/// nothing answers 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_racing_on_gates_members_mappings_and_credentials_agree() {
    let s = Arc::new(TestServer::start().await);
    let t = s.tenant("Contoso", 800).await;
    let base = s.project(&t, "mail", "mail").await;
    s.put(
        OPERATOR_TOKEN,
        &format!("{base}/endpoints/source"),
        json!({ "url": "maildir:/srv/mail" }),
    )
    .await
    .ok();
    let admin = s.member(&t, "carol", "customer-admin").await;
    let mut handles = Vec::new();
    for n in 0..CLIENTS {
        let (s, base, t, admin) = (s.clone(), base.clone(), t.clone(), admin.clone());
        handles.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let gate = s
                .post(
                    &admin,
                    &format!("{base}/gates/core_onboarding/confirm"),
                    json!({}),
                )
                .await;
            statuses.push(gate.status.as_u16());
            let changed = gate.body["result"]["changed"] == true;
            let member = s
                .post(
                    &admin,
                    &format!("/api/v1/tenants/{t}/members"),
                    json!({ "user": "newcomer", "role": "viewer" }),
                )
                .await;
            statuses.push(member.status.as_u16());
            let token = member.body["result"]["token"].as_str().map(str::to_string);
            // Ten CSVs of three rows each, overlapping: mailbox i is in CSV i/3 and (i+1)/3.
            let k = n % 10;
            let mut csv = String::from("EmailAddress,UserName,Password\n");
            for i in [k * 3, k * 3 + 1, k * 3 + 3] {
                csv.push_str(&format!("u{i}@contoso.com,u{i},pw{i}\n"));
            }
            let import = s
                .post(&admin, &format!("{base}/mappings"), json!({ "csv": csv }))
                .await;
            statuses.push(import.status.as_u16());
            let cred = s
                .put(
                    &admin,
                    &format!("{base}/endpoints/source/credential"),
                    json!({ "secret": format!("secret {n}") }),
                )
                .await;
            statuses.push(cred.status.as_u16());
            (statuses, changed, token, import.status.is_success())
        }));
    }
    let mut changed = 0;
    let mut tokens = 0;
    let mut imports = 0;
    for h in handles {
        let (statuses, c, token, imported) = h.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
        changed += c as usize;
        tokens += token.is_some() as usize;
        imports += imported as usize;
    }
    assert_eq!(changed, 1, "one confirmation changed the gate");
    assert_eq!(tokens, 1, "one request created the newcomer");
    let members = s
        .get(OPERATOR_TOKEN, &format!("/api/v1/tenants/{t}/members"))
        .await
        .ok();
    let newcomers = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "newcomer")
        .count();
    assert_eq!(newcomers, 1);
    let mappings = s
        .get(OPERATOR_TOKEN, &format!("{base}/mappings"))
        .await
        .ok();
    let labels: Vec<&str> = mappings["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = labels.iter().copied().collect();
    assert_eq!(labels.len(), unique.len(), "a mailbox imported twice");
    // Importing again corrects the rows the project has (issue 9 item 14): every import succeeds, none is
    // half applied, and the rows are exactly the union of the CSVs.
    assert_eq!(imports, CLIENTS, "{imports} imports");
    let expected: BTreeSet<String> = (0..10)
        .flat_map(|k| [k * 3, k * 3 + 1, k * 3 + 3])
        .map(|i| format!("u{i}@contoso.com"))
        .collect();
    let got: BTreeSet<String> = unique.iter().map(|l| l.to_string()).collect();
    assert_eq!(got, expected);
    let creds = s
        .get(OPERATOR_TOKEN, &format!("{base}/credentials"))
        .await
        .ok();
    let endpoint_creds = creds["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["owner"] == "endpoint:source")
        .count();
    assert_eq!(endpoint_creds, 1);
    // One audit entry per successful change.
    let entries = audit(&s, &t).await;
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert_eq!(count("gate.confirm"), CLIENTS);
    assert_eq!(count("mapping.import"), imports);
    assert_eq!(count("credential.supply"), CLIENTS);
}
