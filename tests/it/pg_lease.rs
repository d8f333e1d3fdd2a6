//! Leases with fencing on the shared state (SPEC §9) against a real PostgreSQL: one
//! writer per (store, spreadsheet, tab) across machines, a manual `sync` that finds the
//! lease taken exits 2 naming the holder, a write under a superseded epoch is refused in
//! the database, and every store request made under a lease names its worker and epoch
//! in the `User-Agent` the store sees.

use crate::common;
use crate::pg;

use std::time::Duration;

use sheetsync::state::postgres::{PgState, lease};
use sheetsync::state::{Scope, StateError, StateStore};
use sheetsync_sandbox::Sandbox;
use sheetsync_sandbox::shopify::HoldPoint;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_machines_sync_exits_2_naming_the_holder_and_store_requests_carry_the_epoch() {
    let common::Backend::Postgres(url) = common::Backend::postgres().await else {
        unreachable!()
    };
    let sandbox = Sandbox::demo(0).await.expect("sandbox");
    sandbox.fix_demo_sheet();
    // Two machines: the same pair, each with its own local state dir (so the local file
    // lock cannot be what stops the second).
    let one = tempfile::tempdir().expect("tmp");
    let two = tempfile::tempdir().expect("tmp");
    let config_one = sandbox.write_config(one.path(), "").expect("config");
    let config_two = sandbox.write_config(two.path(), "").expect("config");
    let env = [("SHEETSYNC_STATE_URL", url.as_str())];

    let hold = sandbox
        .shopify
        .hold_mutation("inventorySetQuantities", 1, HoldPoint::BeforeApply);
    let mut first = tokio::process::Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--config")
        .arg(&config_one)
        .args(["sync", "--adopt", "sheet"])
        .env("SHEETSYNC_STATE_URL", &url)
        .env_remove("SHEETSYNC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let first_pid = first.id().expect("pid");
    common::held(&hold, "the first sync's stock write reached the store").await;

    let (code, _, stderr) =
        common::run_sheetsync_env(&config_two, &["sync", "--adopt", "sheet"], &env).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("holds the lease"), "{stderr}");
    let holder = format!(".{first_pid}");
    assert!(
        stderr.contains("(sync.") && stderr.contains(&holder),
        "names the first sync: {stderr}"
    );

    hold.release();
    let status = first.wait().await.expect("wait");
    assert_eq!(status.code(), Some(0));

    // Released on exit: the second machine gets the lease at once, under epoch 2.
    let requests_before = sandbox.shopify.requests().len();
    let (code, _, stderr) = common::run_sheetsync_env(&config_two, &["sync"], &env).await;
    assert_eq!(code, 0, "{stderr}");

    let version = env!("CARGO_PKG_VERSION");
    let agents: Vec<Option<String>> = sandbox
        .shopify
        .requests()
        .into_iter()
        .map(|r| r.user_agent)
        .collect();
    let (by_first, by_second) = agents.split_at(requests_before);
    assert!(!by_first.is_empty() && !by_second.is_empty());
    let expected_first = format!("sheetsync/{version} worker/sync.");
    for ua in by_first {
        let ua = ua.as_deref().unwrap_or_default();
        assert!(
            ua.starts_with(&expected_first) && ua.ends_with(&format!("{holder} epoch/1")),
            "{ua}"
        );
    }
    for ua in by_second {
        let ua = ua.as_deref().unwrap_or_default();
        assert!(
            ua.starts_with(&expected_first) && ua.ends_with(" epoch/2"),
            "{ua}"
        );
    }
    // The journal records who wrote under which grant; epochs never go backwards.
    let epochs =
        pg::query_strings(&url, "SELECT epoch::text FROM sheetsync.runs ORDER BY seq").await;
    assert_eq!(epochs, vec![Some("1".to_owned()), Some("2".to_owned())]);
    let lease = pg::query_strings(
        &url,
        "SELECT coalesce(holder, 'free') FROM sheetsync.leases",
    )
    .await;
    assert_eq!(lease, vec![Some("free".to_owned())], "released on exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_under_a_superseded_epoch_is_refused_and_leaves_nothing() {
    let common::Backend::Postgres(url) = common::Backend::postgres().await else {
        unreachable!()
    };
    let tmp = tempfile::tempdir().expect("tmp");
    // A scope of its own: the lease registry is per process, shared by the tests.
    let scope = Scope::new("fence.myshopify.com", "sheet", "Stale");
    let a = lease::acquire(&url, &scope, "worker-a", Duration::from_secs(60)).expect("lease");
    assert_eq!(a.fence().epoch, 1);
    let mut state = PgState::open(&url, tmp.path(), &scope).expect("state");
    state
        .begin_run("run-a", "2026-12-07T08:00:00Z", "sync", false)
        .expect("a writes under its lease");

    // A stalls past its lease (a frozen process, a partition): its expiry passes on the
    // database's clock, which the test moves instead of waiting; B takes over.
    pg::query_strings(
        &url,
        "UPDATE sheetsync.leases SET expires_at = now() - interval '1 second'",
    )
    .await;
    let b = lease::acquire(&url, &scope, "worker-b", Duration::from_secs(60)).expect("lease");
    assert_eq!(b.fence().epoch, 2, "every grant has a higher epoch");
    // Another process would fail to take it now, naming B.
    let refused =
        lease::acquire(&url, &scope, "worker-c", Duration::from_secs(60)).expect_err("held by b");
    assert!(
        matches!(&refused, StateError::LeaseHeld { holder, .. } if holder == "worker-b"),
        "{refused}"
    );

    // A wakes up with its local deadline still ahead: the database refuses.
    let e = state
        .journal_request("run-a", "k", "inventorySetQuantities", b"{}", "[]")
        .expect_err("fenced");
    assert!(
        matches!(&e, StateError::LeaseLost { holder, epoch: 1, .. } if holder == "worker-a"),
        "{e}"
    );
    for write in [
        state.check_writer().err(),
        state.set_baseline(&[]).err(),
        state.begin_run("run-a2", "t", "sync", false).err(),
        state
            .finish_run("run-a", "t", 0, &serde_json::json!({}), "{}", &[])
            .err(),
    ] {
        assert!(
            matches!(write, Some(StateError::LeaseLost { .. })),
            "{write:?}"
        );
    }
    let journaled = pg::query_strings(&url, "SELECT count(*)::text FROM sheetsync.requests").await;
    assert_eq!(journaled, vec![Some("0".to_owned())]);
    let finished = pg::query_strings(
        &url,
        "SELECT count(*)::text FROM sheetsync.runs WHERE finished_at IS NOT NULL",
    )
    .await;
    assert_eq!(finished, vec![Some("0".to_owned())]);
    drop(state);
    // A's release cannot free B's lease.
    drop(a);
    let holder = pg::query_strings(&url, "SELECT holder FROM sheetsync.leases").await;
    assert_eq!(holder, vec![Some("worker-b".to_owned())]);
    drop(b);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_that_cannot_renew_stops_at_its_local_deadline() {
    let common::Backend::Postgres(url) = common::Backend::postgres().await else {
        unreachable!()
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let scope = Scope::new("fence.myshopify.com", "sheet", "Outage");
    // The lease logs in as a role of its own, so that the database can shut it out
    // alone: its pool is then not the state's (another URL), and the state's connection
    // stays up, so only the fence can stop the next write.
    let (lease_url, role) = pg::role_url(&url, "lease", 10).await;
    let a =
        lease::acquire(&lease_url, &scope, "worker-a", Duration::from_millis(1500)).expect("lease");
    let mut state = PgState::open(&url, tmp.path(), &scope).expect("state");
    state
        .begin_run("run-a", "2026-12-07T08:00:00Z", "sync", false)
        .expect("a writes under its lease");
    // The database becomes unreachable for the renewals: no new session for the role,
    // and its open ones cut (the pool would otherwise reconnect, as it should).
    pg::query_strings(&url, &format!("ALTER ROLE {role} NOLOGIN")).await;
    let killed = pg::query_strings(
        &url,
        &format!(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity
             WHERE usename = '{role}'"
        ),
    )
    .await;
    assert!(!killed.is_empty(), "the lease's connection was cut");
    common::wait_until(
        Duration::from_secs(20),
        "the local deadline passes without a renewal",
        || a.fence().check().is_err(),
    )
    .await;
    let e = state
        .journal_request("run-a", "k", "inventorySetQuantities", b"{}", "[]")
        .expect_err("past the local deadline");
    assert!(e.to_string().contains("not renewed in time"), "{e}");
    let journaled = pg::query_strings(&url, "SELECT count(*)::text FROM sheetsync.requests").await;
    assert_eq!(journaled, vec![Some("0".to_owned())]);
}
