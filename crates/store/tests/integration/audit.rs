use stsd_store::NewAuditEntry;

use crate::harness::TestDb;

async fn append_and_page(db: &TestDb) {
    let s = &db.store;
    let a = s.create_tenant("A").await.unwrap();
    let b = s.create_tenant("B").await.unwrap();
    for i in 0..5 {
        s.append_audit(&NewAuditEntry {
            tenant_id: Some(&a.id),
            actor: "user-1",
            action: "domain.create",
            target: &format!("d{i}.example"),
            details: "{}",
            client_ip: Some("192.0.2.7"),
        })
        .await
        .unwrap();
    }
    s.append_audit(&NewAuditEntry {
        tenant_id: Some(&b.id),
        actor: "user-2",
        action: "domain.create",
        target: "secret.example",
        details: "{}",
        client_ip: None,
    })
    .await
    .unwrap();
    let page = s.audit_log(&a.id, None, 3).await.unwrap();
    let targets: Vec<_> = page.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["d4.example", "d3.example", "d2.example"]);
    let rest = s.audit_log(&a.id, Some(page[2].id), 10).await.unwrap();
    let targets: Vec<_> = rest.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["d1.example", "d0.example"]);
    assert_eq!(rest[0].client_ip.as_deref(), Some("192.0.2.7"));
    let bs = s.audit_log(&b.id, None, 10).await.unwrap();
    assert_eq!(bs.len(), 1, "tenant B sees only its own entries");
}

crate::both_backends!(append_and_page);
