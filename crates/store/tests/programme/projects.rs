//! Projects, gates, tasks, endpoints, credentials and mappings.

use super::at;
use ferry_core::id::{MappingId, ProjectId, TenantId, UserId};
use ferry_core::programme::gate::GateKind;
use ferry_core::programme::tenant::{AvailabilityWindow, Cloud, Plan, Seats, Tenant};
use ferry_core::programme::{ProjectState, SourceSystem, Workload};
use ferry_store::programme::*;

async fn project(p: &dyn ProgrammeStore) -> (TenantId, ProjectId) {
    let t = TenantId::new();
    p.insert_tenant(
        t,
        &Tenant {
            name: "T".into(),
            plan: Plan::Commercial,
            seats: Seats {
                paid: 600,
                trial: 0,
                faculty_staff: 0,
                students: 0,
            },
            first_purchase: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            cloud: Cloud::Commercial,
            window: AvailabilityWindow::AllWeek,
        },
        at(0),
    )
    .await
    .unwrap();
    let id = ProjectId::new();
    p.insert_project(
        id,
        t,
        "Mail",
        Workload::Mail,
        SourceSystem::default(),
        at(0),
    )
    .await
    .unwrap();
    (t, id)
}

fn mapping(label: &str, line: i64) -> MappingRecord {
    MappingRecord {
        id: MappingId::new(),
        line,
        label: label.into(),
        source: format!("src-{label}"),
        target: label.into(),
        doc: "{\"user_root\":null}".into(),
    }
}

both!(a_project_starts_in_draft_and_is_found_in_its_tenant_only);
async fn a_project_starts_in_draft_and_is_found_in_its_tenant_only(p: Box<dyn ProgrammeStore>) {
    let (t, id) = project(&*p).await;
    let got = p.load_project(t, id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.workload, got.name.as_str()),
        (ProjectState::Draft, Workload::Mail, "Mail")
    );
    assert_eq!((got.last_progress, got.created_at), (at(0), at(0)));
    assert_eq!(p.load_project(TenantId::new(), id).await.unwrap(), None);
    assert_eq!(p.projects(Some(t)).await.unwrap().len(), 1);
    assert!(p.projects(Some(TenantId::new())).await.unwrap().is_empty());
    assert_eq!(p.projects(None).await.unwrap().len(), 1);
    p.rename_project(id, "Renamed", at(3)).await.unwrap();
    let got = p.load_project(t, id).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.updated_at), ("Renamed", at(3)));
}

both!(a_paused_project_remembers_where_it_came_from_and_resuming_clears_it);
async fn a_paused_project_remembers_where_it_came_from_and_resuming_clears_it(
    p: Box<dyn ProgrammeStore>,
) {
    let (t, id) = project(&*p).await;
    p.set_project_state(
        id,
        ProjectState::Paused,
        Some(ProjectState::Ready),
        Some(at(10)),
        at(10),
    )
    .await
    .unwrap();
    let got = p.load_project(t, id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.state,
            got.paused_from,
            got.paused_since,
            got.last_progress
        ),
        (
            ProjectState::Paused,
            Some(ProjectState::Ready),
            Some(at(10)),
            at(10)
        )
    );
    assert_eq!(
        p.project_state(id).await.unwrap(),
        Some(ProjectState::Paused)
    );
    p.set_project_state(id, ProjectState::Ready, None, None, at(20))
        .await
        .unwrap();
    let got = p.load_project(t, id).await.unwrap().unwrap();
    assert_eq!((got.paused_from, got.paused_since), (None, None));
    p.touch_project(id, at(30)).await.unwrap();
    assert_eq!(
        p.load_project(t, id).await.unwrap().unwrap().last_progress,
        at(30)
    );
}

both!(gates_keep_their_order_and_a_confirmation_names_who_and_when);
async fn gates_keep_their_order_and_a_confirmation_names_who_and_when(p: Box<dyn ProgrammeStore>) {
    let (_, id) = project(&*p).await;
    p.insert_gate(id, GateKind::CoreOnboarding).await.unwrap();
    p.insert_gate(id, GateKind::TargetsProvisioned)
        .await
        .unwrap();
    let who = UserId::new();
    p.confirm_gate(id, GateKind::TargetsProvisioned, who, at(5))
        .await
        .unwrap();
    let gates = p.gates(id).await.unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0].kind, GateKind::CoreOnboarding);
    assert!(gates[0].confirmed.is_none());
    let c = gates[1].confirmed.unwrap();
    assert_eq!((c.by, c.at), (who, at(5)));
}

both!(tasks_round_trip_in_id_order);
async fn tasks_round_trip_in_id_order(p: Box<dyn ProgrammeStore>) {
    let (_, id) = project(&*p).await;
    for (n, scope) in [("b", false), ("a", true)] {
        p.insert_task(
            id,
            &TaskRow {
                id: format!("task-{n}"),
                task: "remediation".into(),
                agreement: (!scope).then(|| "SOW-1".to_string()),
                in_scope: scope,
                created_by: "u".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
            },
        )
        .await
        .unwrap();
    }
    let tasks = p.tasks(id).await.unwrap();
    assert_eq!(tasks[0].id, "task-a");
    assert!(tasks[0].in_scope);
    assert_eq!(tasks[1].agreement.as_deref(), Some("SOW-1"));
}

both!(an_endpoint_is_set_once_per_side_and_keeps_its_id_when_changed);
async fn an_endpoint_is_set_once_per_side_and_keeps_its_id_when_changed(
    p: Box<dyn ProgrammeStore>,
) {
    let (_, id) = project(&*p).await;
    let e = |id: &str, url: &str| EndpointRow {
        id: id.into(),
        side: "source".into(),
        url: url.into(),
        username: Some("admin".into()),
        options: "{}".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
    };
    p.upsert_endpoint(id, &e("e1", "imap://a:143"))
        .await
        .unwrap();
    p.upsert_endpoint(id, &e("e2", "imap://b:143"))
        .await
        .unwrap();
    let all = p.endpoints(id).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].id.as_str(), all[0].url.as_str()),
        ("e1", "imap://b:143")
    );
    assert_eq!(p.endpoint(id, "target").await.unwrap(), None);
    assert!(p.delete_endpoint(id, "source").await.unwrap());
    assert!(!p.delete_endpoint(id, "source").await.unwrap());
}

fn sealed(project: ProjectId, owner: &str, supplied: i64) -> CredentialWrite {
    CredentialWrite {
        project,
        owner: owner.into(),
        nonce: vec![1; 12],
        ciphertext: vec![2; 20],
        supplied_by: UserId::new(),
        supplied_at: at(supplied),
        expires_at: at(supplied + 100),
    }
}

both!(credentials_are_replaced_per_owner_and_purged_by_side_or_project);
async fn credentials_are_replaced_per_owner_and_purged_by_side_or_project(
    p: Box<dyn ProgrammeStore>,
) {
    let (_, id) = project(&*p).await;
    let m = MappingId::new();
    for (owner, t) in [
        ("endpoint:source".to_string(), 0),
        ("endpoint:source".to_string(), 5),
        ("endpoint:target".to_string(), 0),
        (format!("mapping:{m}:source"), 0),
        (format!("mapping:{m}:target"), 0),
    ] {
        p.store_credential(&sealed(id, &owner, t)).await.unwrap();
    }
    assert_eq!(p.credentials(id).await.unwrap().len(), 4);
    let s = p
        .sealed_credential(id, "endpoint:source")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.nonce.len(), s.expires_at), (12, at(105)));
    // Debug output never shows the sealed bytes.
    assert!(!format!("{s:?}").contains("2, 2"));
    assert_eq!(
        p.credential_meta(id, "endpoint:source")
            .await
            .unwrap()
            .unwrap()
            .supplied_at,
        "2026-01-01T00:00:05.000Z"
    );
    assert_eq!(p.fresh_credentials(id, at(5), at(6)).await.unwrap(), 1);
    assert_eq!(p.credentials_supplied(id).await.unwrap().len(), 4);
    // The source side: the endpoint's and every mapping's source credential.
    assert_eq!(p.delete_side_credentials(id, "source").await.unwrap(), 2);
    assert!(p.delete_credential(id, "endpoint:target").await.unwrap());
    assert!(!p.delete_credential(id, "endpoint:target").await.unwrap());
    assert_eq!(p.purge_credentials(id).await.unwrap(), 1);
    assert!(p.credentials(id).await.unwrap().is_empty());
}

both!(mappings_are_found_by_label_corrected_and_deleted_with_their_credentials);
async fn mappings_are_found_by_label_corrected_and_deleted_with_their_credentials(
    p: Box<dyn ProgrammeStore>,
) {
    let (_, id) = project(&*p).await;
    let a = mapping("a@x", 1);
    let b = mapping("b@x", 2);
    p.insert_mapping(id, &a, at(0)).await.unwrap();
    p.insert_mapping(id, &b, at(0)).await.unwrap();
    assert_eq!(p.mappings(id).await.unwrap(), vec![a.clone(), b.clone()]);
    let mut a2 = p.mapping_by_label(id, "a@x").await.unwrap().unwrap();
    a2.source = "other".into();
    a2.line = 7;
    p.update_mapping(&a2).await.unwrap();
    assert_eq!(p.mapping_by_label(id, "a@x").await.unwrap(), Some(a2));
    p.store_credential(&sealed(id, &format!("mapping:{}:source", b.id), 0))
        .await
        .unwrap();
    assert!(p.mapping_events(b.id).await.unwrap().is_empty());
    assert_eq!(p.mapping_tickets(b.id).await.unwrap(), 0);
    // Another project cannot delete it.
    assert!(!p.delete_mapping(ProjectId::new(), b.id).await.unwrap());
    assert!(p.delete_mapping(id, b.id).await.unwrap());
    assert_eq!(p.mappings(id).await.unwrap().len(), 1);
    assert!(p.credentials(id).await.unwrap().is_empty());
}

both!(an_import_inserts_thousands_of_mappings_and_their_credentials_in_batches_all_or_none);
async fn an_import_inserts_thousands_of_mappings_and_their_credentials_in_batches_all_or_none(
    p: Box<dyn ProgrammeStore>,
) {
    let (_, id) = project(&*p).await;
    let first = mapping("first@x", 1);
    p.insert_mapping(id, &first, at(0)).await.unwrap();
    // More rows than one SQLite statement carries (500 per INSERT), in import order.
    let many: Vec<MappingRecord> = (0..1_203)
        .map(|i| mapping(&format!("u{i}@x"), i + 2))
        .collect();
    let secrets: Vec<CredentialWrite> = many
        .iter()
        .flat_map(|m| {
            ["source", "target"].map(|slot| sealed(id, &format!("mapping:{}:{slot}", m.id), 0))
        })
        .collect();
    let tx = p.begin().await.unwrap();
    tx.insert_mappings(id, &many, at(1)).await.unwrap();
    tx.store_credentials(&secrets).await.unwrap();
    tx.commit().await.unwrap();
    let mut want = vec![first.clone()];
    want.extend(many.iter().cloned());
    assert_eq!(p.mappings(id).await.unwrap(), want);
    assert_eq!(p.credentials(id).await.unwrap().len(), 2 * 1_203);
    let owner = format!("mapping:{}:target", many[1_202].id);
    let c = p.sealed_credential(id, &owner).await.unwrap().unwrap();
    assert_eq!((c.nonce, c.ciphertext), (vec![1; 12], vec![2; 20]));
    // Replacing: an owner stored again, or given twice in one batch, keeps the last one.
    let again = vec![
        sealed(id, &owner, 10),
        sealed(id, "endpoint:source", 0),
        sealed(id, "endpoint:source", 20),
    ];
    p.store_credentials(&again).await.unwrap();
    assert_eq!(p.credentials(id).await.unwrap().len(), 2 * 1_203 + 1);
    let meta = |o: &str| {
        let o = o.to_string();
        let p = &p;
        async move {
            p.credential_meta(id, &o)
                .await
                .unwrap()
                .unwrap()
                .supplied_at
        }
    };
    assert_eq!(meta(&owner).await, "2026-01-01T00:00:10.000Z");
    assert_eq!(meta("endpoint:source").await, "2026-01-01T00:00:20.000Z");
    // A batch with a label the project has fails, and its transaction leaves nothing.
    let tx = p.begin().await.unwrap();
    let more: Vec<MappingRecord> = (0..600)
        .map(|i| mapping(&format!("v{i}@x"), i))
        .chain([mapping("first@x", 700)])
        .collect();
    assert!(tx.insert_mappings(id, &more, at(2)).await.is_err());
    drop(tx);
    assert_eq!(p.mappings(id).await.unwrap().len(), 1 + 1_203);
    assert!(p.mapping_by_label(id, "v0@x").await.unwrap().is_none());
    // Nothing to insert is no statement at all.
    p.insert_mappings(id, &[], at(3)).await.unwrap();
    p.store_credentials(&[]).await.unwrap();
}
