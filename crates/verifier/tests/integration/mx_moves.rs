//! A planned move to new MX hosts on a controllable clock: nothing before the shorten step's
//! date; then the old and new patterns with `max_age` a day; the final version waits while
//! the MX records still name the old host, and once they name the new ones publishes the new
//! patterns only with the original `max_age`, in the mode the policy has then. A plan whose
//! policy went to `none` is cancelled.

use stsd_core::{MaxAge, Mode, MovePlan, MoveStep, MxPattern, Policy};
use stsd_store::{DomainState, MoveState, Ownership};
use stsd_verifier::{MOVE_AUTHOR, advance_mx_moves};
use time::{Duration, OffsetDateTime};

use crate::world::World;

const WEEK: u32 = 604_800;

fn patterns(list: &[&str]) -> Vec<MxPattern> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn names(policy: &Policy) -> Vec<&str> {
    policy.mx().iter().map(MxPattern::as_str).collect()
}

/// An active, certified domain with an `enforce` policy for `mx1.old.example` (a week's
/// `max_age`) and a plan moving it to `*.new.example` 30 days after `t0`, its cover step
/// published as the API publishes it.
async fn planned(w: &World, name: &str, t0: OffsetDateTime) -> stsd_store::Domain {
    let d = w.domain(name, Ownership::Cname).await;
    let d = w
        .force_state(&d, &[DomainState::Verified, DomainState::Active])
        .await;
    w.add_certificate(&d).await;
    w.dns.set_mx(name, &[(10, "mx1.old.example")]);
    let policy = Policy::new(
        Mode::Enforce,
        patterns(&["mx1.old.example"]),
        MaxAge::new(WEEK).unwrap(),
    )
    .unwrap();
    w.store
        .create_policy_version(&w.tenant, &d.id, &policy, "test")
        .await
        .unwrap();
    let plan = MovePlan::new(
        &policy,
        patterns(&["*.new.example"]),
        t0 + Duration::days(30),
        t0,
    )
    .unwrap();
    w.store
        .start_mx_move(&w.tenant, &d.id, &plan, "test")
        .await
        .unwrap();
    let cover = plan
        .policy_after(MoveStep::Cover, &policy)
        .unwrap()
        .unwrap();
    let version = w
        .store
        .create_policy_version(&w.tenant, &d.id, &cover, "test")
        .await
        .unwrap()
        .version;
    assert!(
        w.store
            .record_move_step(&w.tenant, &d.id, MoveStep::Cover, &version.id, t0)
            .await
            .unwrap()
    );
    d
}

async fn latest(w: &World, d: &stsd_store::Domain) -> stsd_store::PolicyVersion {
    w.store
        .latest_policy_version(&w.tenant, &d.id)
        .await
        .unwrap()
        .unwrap()
}

async fn a_planned_move_walks_through_its_steps(w: World) {
    let t0 = OffsetDateTime::now_utc();
    let d = planned(&w, "moving.example", t0).await;
    let cover = latest(&w, &d).await;
    assert_eq!(names(&cover.policy), ["mx1.old.example", "*.new.example"]);
    assert_eq!(cover.policy.max_age().get(), WEEK);

    // Before the shorten step (30 days − a week after the plan): nothing.
    let n = advance_mx_moves(&w.store, &w.cfg, t0 + Duration::days(22))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(latest(&w, &d).await.id, cover.id);

    // The shorten step: same patterns, max_age a day, still enforce, live at once.
    let n = advance_mx_moves(&w.store, &w.cfg, t0 + Duration::days(23))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let short = latest(&w, &d).await;
    assert_eq!(names(&short.policy), ["mx1.old.example", "*.new.example"]);
    assert_eq!(short.policy.max_age().get(), 86_400);
    assert_eq!(short.policy.mode(), Mode::Enforce);
    assert_eq!(short.author, MOVE_AUTHOR);
    assert_ne!(short.policy_id, cover.policy_id);
    let domain = w
        .store
        .all_tenants()
        .domain_by_id(&d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(domain.live_version_id.as_deref(), Some(short.id.as_str()));
    let mv = w.store.mx_move(&w.tenant, &d.id).await.unwrap().unwrap();
    assert_eq!(mv.shorten_version.as_deref(), Some(short.id.as_str()));
    assert_eq!(mv.state, MoveState::Active);
    // Run again at the same moment: the step is not repeated.
    let n = advance_mx_moves(&w.store, &w.cfg, t0 + Duration::days(23))
        .await
        .unwrap();
    assert_eq!(n, 0);

    // The customer switches to testing meanwhile; the plan keeps their mode.
    let testing = Policy::new(
        Mode::Testing,
        short.policy.mx().to_vec(),
        short.policy.max_age(),
    )
    .unwrap();
    w.store
        .create_policy_version(&w.tenant, &d.id, &testing, "user")
        .await
        .unwrap();

    // A day after the move the MX records still name the old host: the final version waits.
    let finish_at = t0 + Duration::days(31);
    let n = advance_mx_moves(&w.store, &w.cfg, finish_at).await.unwrap();
    assert_eq!(n, 0);
    let mv = w.store.mx_move(&w.tenant, &d.id).await.unwrap().unwrap();
    let waiting = mv.waiting.expect("the finish step says what it waits for");
    assert!(waiting.contains("mx1.old.example"), "{waiting}");
    assert_eq!(mv.state, MoveState::Active);
    assert_eq!(latest(&w, &d).await.policy.mode(), Mode::Testing);

    // The MX records now name the new provider's hosts: the new patterns only, max_age back.
    w.dns.set_mx(
        "moving.example",
        &[(10, "mx1.new.example"), (20, "mx2.new.example")],
    );
    let n = advance_mx_moves(&w.store, &w.cfg, finish_at + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let last = latest(&w, &d).await;
    assert_eq!(names(&last.policy), ["*.new.example"]);
    assert_eq!(last.policy.max_age().get(), WEEK);
    assert_eq!(last.policy.mode(), Mode::Testing);
    let mv = w.store.mx_move(&w.tenant, &d.id).await.unwrap().unwrap();
    assert_eq!(mv.state, MoveState::Done);
    assert_eq!(mv.finish_version.as_deref(), Some(last.id.as_str()));
    assert_eq!(mv.waiting, None);
    let n = advance_mx_moves(&w.store, &w.cfg, finish_at + Duration::days(5))
        .await
        .unwrap();
    assert_eq!(n, 0);
    w.close().await;
}

async fn a_plan_whose_policy_went_to_none_is_cancelled(w: World) {
    let t0 = OffsetDateTime::now_utc();
    let d = planned(&w, "stopping.example", t0).await;
    let none = Policy::new(Mode::None, Vec::new(), MaxAge::new(86_400).unwrap()).unwrap();
    w.store
        .create_policy_version(&w.tenant, &d.id, &none, "user")
        .await
        .unwrap();
    let n = advance_mx_moves(&w.store, &w.cfg, t0 + Duration::days(23))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let mv = w.store.mx_move(&w.tenant, &d.id).await.unwrap().unwrap();
    assert_eq!(mv.state, MoveState::Cancelled);
    assert_eq!(latest(&w, &d).await.policy.mode(), Mode::None);
    w.close().await;
}

#[tokio::test]
async fn a_planned_move_walks_through_its_steps_on_sqlite() {
    a_planned_move_walks_through_its_steps(World::sqlite().await).await;
}

#[tokio::test]
async fn a_planned_move_walks_through_its_steps_on_postgres() {
    a_planned_move_walks_through_its_steps(World::postgres().await).await;
}

#[tokio::test]
async fn a_plan_whose_policy_went_to_none_is_cancelled_on_sqlite() {
    a_plan_whose_policy_went_to_none_is_cancelled(World::sqlite().await).await;
}

#[tokio::test]
async fn a_plan_whose_policy_went_to_none_is_cancelled_on_postgres() {
    a_plan_whose_policy_went_to_none_is_cancelled(World::postgres().await).await;
}
