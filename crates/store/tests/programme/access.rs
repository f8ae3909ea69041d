//! Tenants, users, members, tokens, the audit log, transactions and counts.

use super::at;
use ferry_core::id::{TenantId, TransactionId, UserId};
use ferry_core::programme::TransactionStatus;
use ferry_core::programme::tenant::{AvailabilityWindow, Cloud, Plan, Seats, Tenant};
use ferry_store::programme::*;

fn tenant(name: &str) -> Tenant {
    Tenant {
        name: name.into(),
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
    }
}

fn user(name: &str, display: Option<&str>) -> NewUser {
    NewUser {
        id: UserId::new(),
        name: name.into(),
        display_name: display.map(str::to_string),
        operator: false,
        created_at: at(0),
    }
}

both!(a_tenant_round_trips_and_lists_for_its_members_only);
async fn a_tenant_round_trips_and_lists_for_its_members_only(p: Box<dyn ProgrammeStore>) {
    let (a, b) = (TenantId::new(), TenantId::new());
    p.insert_tenant(a, &tenant("Beta"), at(0)).await.unwrap();
    p.insert_tenant(b, &tenant("Alpha"), at(0)).await.unwrap();
    assert_eq!(p.load_tenant(a).await.unwrap(), Some(tenant("Beta")));
    assert!(p.tenant_exists(a).await.unwrap());
    assert!(!p.tenant_exists(TenantId::new()).await.unwrap());
    assert_eq!(p.load_tenant(TenantId::new()).await.unwrap(), None);
    // Every tenant, by name.
    let all: Vec<TenantId> = p
        .tenants(None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(all, vec![b, a]);
    // A member sees only the tenants they have a role on.
    let u = user("ann", None);
    p.insert_user(&u).await.unwrap();
    p.set_member(a, u.id, "viewer", at(1)).await.unwrap();
    let mine = p.tenants(Some(u.id)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].0, a);
    // An update replaces the document and the name.
    p.update_tenant(a, &tenant("Gamma"), at(2)).await.unwrap();
    assert_eq!(p.load_tenant(a).await.unwrap().unwrap().name, "Gamma");
}

both!(a_token_finds_its_user_by_hash_with_the_shown_name);
async fn a_token_finds_its_user_by_hash_with_the_shown_name(p: Box<dyn ProgrammeStore>) {
    assert_eq!(p.count_users().await.unwrap(), 0);
    let u = user("bob#1", Some("bob"));
    p.insert_user(&u).await.unwrap();
    p.insert_token("h1", u.id, at(0)).await.unwrap();
    assert_eq!(p.count_users().await.unwrap(), 1);
    let found = p.user_by_token("h1").await.unwrap().unwrap();
    assert_eq!(
        found,
        TokenUser {
            id: u.id,
            name: "bob".into(),
            operator: false
        }
    );
    assert_eq!(p.user_by_token("unknown").await.unwrap(), None);
    assert_eq!(p.user_by_name("bob#1").await.unwrap(), Some(u.id));
    assert_eq!(p.user_by_name("bob").await.unwrap(), None);
}

both!(a_member_role_is_replaced_not_duplicated_and_can_be_removed);
async fn a_member_role_is_replaced_not_duplicated_and_can_be_removed(p: Box<dyn ProgrammeStore>) {
    let t = TenantId::new();
    p.insert_tenant(t, &tenant("T"), at(0)).await.unwrap();
    let u = user("carol#x", Some("carol"));
    p.insert_user(&u).await.unwrap();
    p.set_member(t, u.id, "viewer", at(1)).await.unwrap();
    p.set_member(t, u.id, "engineer", at(2)).await.unwrap();
    assert_eq!(
        p.member_role(t, u.id).await.unwrap().as_deref(),
        Some("engineer")
    );
    let members = p.members(t).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].name.as_str(), members[0].role.as_str()),
        ("carol", "engineer")
    );
    assert_eq!(
        p.member_by_shown_name(t, "carol").await.unwrap(),
        Some(u.id)
    );
    assert_eq!(p.member_by_shown_name(t, "carol#x").await.unwrap(), None);
    assert_eq!(
        p.roles_anywhere(u.id).await.unwrap(),
        vec!["engineer".to_string()]
    );
    let roles = p.roles_of(u.id).await.unwrap();
    assert_eq!((roles[0].tenant, roles[0].tenant_name.as_str()), (t, "T"));
    p.delete_member(t, u.id).await.unwrap();
    assert_eq!(p.member_role(t, u.id).await.unwrap(), None);
    assert!(p.members(t).await.unwrap().is_empty());
}

both!(a_transaction_rolls_back_when_dropped_and_lands_on_commit);
async fn a_transaction_rolls_back_when_dropped_and_lands_on_commit(p: Box<dyn ProgrammeStore>) {
    let (a, b) = (TenantId::new(), TenantId::new());
    {
        let tx = p.begin().await.unwrap();
        tx.insert_tenant(a, &tenant("Dropped"), at(0))
            .await
            .unwrap();
        // Inside the transaction its own write is visible.
        assert!(tx.tenant_exists(a).await.unwrap());
    }
    assert!(!p.tenant_exists(a).await.unwrap());
    let tx = p.begin().await.unwrap();
    tx.insert_tenant(b, &tenant("Kept"), at(0)).await.unwrap();
    tx.commit().await.unwrap();
    assert!(p.tenant_exists(b).await.unwrap());
}

both!(the_audit_log_pages_by_sequence_and_names_the_scheduler_by_none);
async fn the_audit_log_pages_by_sequence_and_names_the_scheduler_by_none(
    p: Box<dyn ProgrammeStore>,
) {
    let t = TenantId::new();
    let u = user("dan", None);
    p.insert_user(&u).await.unwrap();
    for (i, who) in [Some(u.id), None, Some(u.id)].into_iter().enumerate() {
        p.insert_audit(&AuditWrite {
            tenant: Some(t),
            user: who,
            action: format!("thing.{i}"),
            target: "project/x".into(),
            before: None,
            after: Some("{\"a\":1}".into()),
            at: at(i as i64),
            request_id: "r".into(),
        })
        .await
        .unwrap();
    }
    let first = p.audit_page(t, 0, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].who.as_deref(), Some("dan"));
    assert_eq!(first[1].who, None);
    let rest = p.audit_page(t, first[1].seq, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].action, "thing.2");
    assert!(
        p.audit_page(TenantId::new(), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

both!(a_transaction_row_moves_on_and_is_found_in_its_tenant_only);
async fn a_transaction_row_moves_on_and_is_found_in_its_tenant_only(p: Box<dyn ProgrammeStore>) {
    let (t, id) = (TenantId::new(), TransactionId::new());
    p.insert_transaction(&TransactionWrite {
        id,
        tenant: Some(t),
        action: "assessment.start".into(),
        target: "project/x".into(),
        status: TransactionStatus::InProgress,
        created_by: None,
        at: at(0),
    })
    .await
    .unwrap();
    assert_eq!(
        p.transaction_status(id).await.unwrap(),
        Some(TransactionStatus::InProgress)
    );
    p.update_transaction(id, TransactionStatus::Completed, Some("done"), at(5))
        .await
        .unwrap();
    // No detail keeps the stored one.
    p.update_transaction(id, TransactionStatus::Completed, None, at(6))
        .await
        .unwrap();
    let row = p.transaction(t, id).await.unwrap().unwrap();
    assert_eq!(row.status, TransactionStatus::Completed);
    assert_eq!(row.detail.as_deref(), Some("done"));
    assert_eq!((row.created_at, row.updated_at), (at(0), at(6)));
    assert_eq!(p.transaction(TenantId::new(), id).await.unwrap(), None);
}

both!(counts_start_at_zero_and_count_tenants);
async fn counts_start_at_zero_and_count_tenants(p: Box<dyn ProgrammeStore>) {
    assert!(p.healthy().await.unwrap());
    let c = p.counts(at(0), at(7 * 86_400)).await.unwrap();
    assert_eq!(c, ProgrammeCounts::default());
    p.insert_tenant(TenantId::new(), &tenant("T"), at(0))
        .await
        .unwrap();
    assert_eq!(p.counts(at(0), at(1)).await.unwrap().tenants, 1);
}

both!(the_audit_log_is_searched_by_actor_action_family_and_time_in_both_directions);
async fn the_audit_log_is_searched_by_actor_action_family_and_time_in_both_directions(
    p: Box<dyn ProgrammeStore>,
) {
    let t = TenantId::new();
    let dan = user("dan", Some("Dan Ops"));
    p.insert_user(&dan).await.unwrap();
    let entries = [
        (Some(dan.id), "ticket.report"),
        (None, "pass.fail"),
        (Some(dan.id), "ticket.update"),
        (Some(dan.id), "tickets.other"),
        (Some(dan.id), "ticket"),
    ];
    for (i, (who, action)) in entries.into_iter().enumerate() {
        p.insert_audit(&AuditWrite {
            tenant: Some(t),
            user: who,
            action: action.into(),
            target: "project/x".into(),
            before: None,
            after: None,
            at: at(i as i64 * 60),
            request_id: "r".into(),
        })
        .await
        .unwrap();
    }
    let actions = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.action).collect::<Vec<_>>();
    let all = AuditFilter::default();
    let newest = p
        .audit_search(t, &all, Seek::Before(None), 2)
        .await
        .unwrap();
    assert_eq!(actions(newest.clone()), ["ticket", "tickets.other"]);
    let older = p
        .audit_search(t, &all, Seek::Before(Some(newest[1].seq)), 10)
        .await
        .unwrap();
    assert_eq!(
        actions(older),
        ["ticket.update", "pass.fail", "ticket.report"]
    );
    // A family is the action itself and every `family.…`, not a longer word.
    let family = AuditFilter {
        action: Some("ticket".into()),
        ..AuditFilter::default()
    };
    let got = p
        .audit_search(t, &family, Seek::After(0), 10)
        .await
        .unwrap();
    assert_eq!(actions(got), ["ticket.report", "ticket.update", "ticket"]);
    let scheduler = AuditFilter {
        actor: Some("scheduler".into()),
        ..AuditFilter::default()
    };
    let got = p
        .audit_search(t, &scheduler, Seek::After(0), 10)
        .await
        .unwrap();
    assert_eq!(actions(got), ["pass.fail"]);
    let by_name = AuditFilter {
        actor: Some("Dan Ops".into()),
        since: Some(at(60)),
        until: Some(at(180)),
        ..AuditFilter::default()
    };
    let got = p
        .audit_search(t, &by_name, Seek::After(0), 10)
        .await
        .unwrap();
    assert_eq!(actions(got), ["ticket.update"]);
}

both!(transactions_list_newest_first_filtered_with_the_creators_name);
async fn transactions_list_newest_first_filtered_with_the_creators_name(
    p: Box<dyn ProgrammeStore>,
) {
    let (t, other) = (TenantId::new(), TenantId::new());
    let dan = user("dan", None);
    p.insert_user(&dan).await.unwrap();
    let mut ids = Vec::new();
    for (i, (tenant, who, action, status)) in [
        (
            t,
            Some(dan.id),
            "event.create",
            TransactionStatus::Completed,
        ),
        (t, None, "pass.run", TransactionStatus::Failed),
        (
            other,
            Some(dan.id),
            "event.create",
            TransactionStatus::Completed,
        ),
        (
            t,
            Some(dan.id),
            "event.cancel",
            TransactionStatus::InProgress,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = TransactionId::new();
        p.insert_transaction(&TransactionWrite {
            id,
            tenant: Some(tenant),
            action: action.into(),
            target: "project/x".into(),
            status,
            created_by: who,
            at: at(i as i64 * 60),
        })
        .await
        .unwrap();
        ids.push(id);
    }
    let all = TransactionFilter::default();
    let got = p.transactions(t, &all, None, 2).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[3], ids[1]]
    );
    assert_eq!(got[0].who.as_deref(), Some("dan"));
    assert_eq!(got[1].who, None);
    let older = p.transactions(t, &all, Some(ids[1]), 10).await.unwrap();
    assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]]);
    let failed = TransactionFilter {
        status: Some(TransactionStatus::Failed),
        ..TransactionFilter::default()
    };
    let got = p.transactions(t, &failed, None, 10).await.unwrap();
    assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
    let events_by_dan = TransactionFilter {
        actor: Some("dan".into()),
        action: Some("event".into()),
        since: Some(at(0)),
        until: Some(at(120)),
        ..TransactionFilter::default()
    };
    let got = p.transactions(t, &events_by_dan, None, 10).await.unwrap();
    assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]]);
}
