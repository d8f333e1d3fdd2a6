//! Unit tests of `state` on real SQLite files in temp dirs: permissions, reopening,
//! read-only and damaged files, schema versions, journals surviving a reopen, and the
//! writer lock across processes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Stdio};

use rust_decimal::Decimal;
use serde_json::json;

use super::*;
use crate::model::Field;

fn scope() -> Scope {
    Scope::new("example.myshopify.com", "1AbC", "Inventory")
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file in `dir` with its bytes, mode and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32, i64, i64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                (
                    std::fs::read(e.path()).unwrap(),
                    m.mode(),
                    m.mtime(),
                    m.mtime_nsec(),
                ),
            )
        })
        .collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    snapshot(dir).into_keys().collect()
}

fn sample_baseline() -> Vec<(Sku, FieldKey, Option<Value>)> {
    vec![
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Price),
            Some(Value::Money(Decimal::new(12, 0))),
        ),
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Cost),
            Some(Value::Money(Decimal::new(1990, 2))),
        ),
        (sku("TEE-1"), FieldKey::variant(Field::CompareAtPrice), None),
        (
            sku("TEE-1"),
            FieldKey::variant(Field::Barcode),
            Some(Value::Text("12".into())),
        ),
        (
            sku("TEE-1"),
            FieldKey::stock("Main Warehouse"),
            Some(Value::Qty(12)),
        ),
        (sku("TEE-1"), FieldKey::stock("Outlet"), None),
        (
            sku("MUG-\"2\""),
            FieldKey::variant(Field::Barcode),
            Some(Value::Text("é \"q\" ∅".into())),
        ),
        (
            sku("MUG-\"2\""),
            FieldKey::stock("Main Warehouse"),
            Some(Value::Qty(-3)),
        ),
    ]
}

fn as_map(entries: &[(Sku, FieldKey, Option<Value>)]) -> Baseline {
    entries
        .iter()
        .map(|(s, k, v)| ((s.clone(), k.clone()), v.clone()))
        .collect()
}

#[test]
fn open_creates_a_private_dir_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project/.sheetsync");
    let mut state = State::open(&dir, &scope()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    state.set_baseline(&sample_baseline()).unwrap();
    // The side files SQLite creates while the writer is open inherit the file's mode.
    for side in ["state.sqlite3-wal", "state.sqlite3-shm"] {
        assert_eq!(mode(&dir.join(side)), 0o600, "{side}");
    }
    let journal: String = state
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn open_tightens_a_loose_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    State::open(tmp.path(), &scope()).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let tmp = tempfile::tempdir().unwrap();
    State::open(tmp.path(), &scope())
        .unwrap()
        .set_baseline(&sample_baseline())
        .unwrap();
    let state = State::open(tmp.path(), &scope()).unwrap();
    assert_eq!(
        schema::version(&state.conn).unwrap(),
        schema::CURRENT_VERSION
    );
    assert_eq!(state.load_baseline().unwrap(), as_map(&sample_baseline()));
}

#[test]
fn read_only_open_of_a_missing_dir_is_none_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".sheetsync");
    assert!(State::open_read_only(&dir, &scope()).unwrap().is_none());
    assert!(!dir.exists());
    // An existing but empty dir stays empty.
    std::fs::create_dir(&dir).unwrap();
    assert!(State::open_read_only(&dir, &scope()).unwrap().is_none());
    assert!(file_names(&dir).is_empty());
}

#[test]
fn read_only_open_leaves_the_dir_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let mut w = State::open(dir, &scope()).unwrap();
        w.set_baseline(&sample_baseline()).unwrap();
        w.begin_run("r1", "2026-11-28T08:15:00Z", "sync", false)
            .unwrap();
        w.finish_run(
            "r1",
            "2026-11-28T08:16:00Z",
            0,
            &json!({"applied": 1}),
            "{}",
            &[],
        )
        .unwrap();
        w.put_token("shopify", &Secret::new("shpat_x"), None)
            .unwrap();
        assert!(
            dir.join("state.sqlite3-wal").exists(),
            "the writer wrote through the WAL"
        );
    }
    // The writer closed cleanly: its WAL was checkpointed into the file and removed.
    let before = snapshot(dir);
    assert_eq!(before.keys().collect::<Vec<_>>(), [DB_FILE]);
    {
        let r = State::open_read_only(dir, &scope()).unwrap().unwrap();
        assert!(r.is_read_only());
        assert_eq!(r.load_baseline().unwrap(), as_map(&sample_baseline()));
        assert_eq!(r.list_runs(10).unwrap().len(), 1);
        assert_eq!(
            r.get_token("shopify").unwrap().unwrap().value.expose(),
            "shpat_x"
        );
        // A scope never written reads as empty, without being created.
        let other = State::open_read_only(dir, &Scope::new("b.myshopify.com", "x", "y"))
            .unwrap()
            .unwrap();
        assert!(other.load_baseline().unwrap().is_empty());
        assert_eq!(snapshot(dir), before, "while open");
    }
    assert_eq!(snapshot(dir), before, "after close");
}

#[test]
fn read_only_open_beside_a_live_writer_sees_its_commits_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut w = State::open(dir, &scope()).unwrap();
    w.set_baseline(&sample_baseline()).unwrap();
    let names = file_names(dir);
    assert_eq!(names, [DB_FILE, "state.sqlite3-shm", "state.sqlite3-wal"]);
    let r = State::open_read_only(dir, &scope()).unwrap().unwrap();
    assert_eq!(r.load_baseline().unwrap(), as_map(&sample_baseline()));
    // A write the reader has not seen yet is visible to its next read.
    w.set_baseline(&[(sku("NEW"), FieldKey::variant(Field::Price), None)])
        .unwrap();
    assert_eq!(
        r.load_baseline().unwrap().len(),
        sample_baseline().len() + 1
    );
    drop(r);
    assert_eq!(file_names(dir), names);
}

#[test]
fn a_read_only_state_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    State::open(tmp.path(), &scope()).unwrap();
    let mut r = State::open_read_only(tmp.path(), &scope())
        .unwrap()
        .unwrap();
    let err = r.set_baseline(&sample_baseline()).unwrap_err();
    assert!(matches!(err, StateError::ReadOnly { .. }), "{err}");
    assert!(matches!(
        r.begin_run("r", "t", "sync", false),
        Err(StateError::ReadOnly { .. })
    ));
    let tok = r.put_token("google", &Secret::new("ya29.x"), None);
    assert!(matches!(tok, Err(StateError::ReadOnly { .. })));
}

#[test]
fn baseline_round_trips_types_and_empty_values() {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = State::open(tmp.path(), &scope()).unwrap();
    assert!(state.load_baseline().unwrap().is_empty());
    let entries = sample_baseline();
    state.set_baseline(&entries).unwrap();
    let loaded = state.load_baseline().unwrap();
    assert_eq!(loaded, as_map(&entries));
    // Equality alone would not catch a type swap between variants of equal text, so
    // check the variants and the scale explicitly.
    let price = &loaded[&(sku("TEE-1"), FieldKey::variant(Field::Price))];
    assert!(
        matches!(price, Some(Value::Money(m)) if m.to_string() == "12"),
        "{price:?}"
    );
    let cost = &loaded[&(sku("TEE-1"), FieldKey::variant(Field::Cost))];
    assert!(
        matches!(cost, Some(Value::Money(m)) if m.to_string() == "19.90"),
        "{cost:?}"
    );
    let barcode = &loaded[&(sku("TEE-1"), FieldKey::variant(Field::Barcode))];
    assert_eq!(barcode, &Some(Value::Text("12".into())));
    let stock = &loaded[&(sku("TEE-1"), FieldKey::stock("Main Warehouse"))];
    assert_eq!(stock, &Some(Value::Qty(12)));
    assert_eq!(loaded[&(sku("TEE-1"), FieldKey::stock("Outlet"))], None);

    // Upsert: a later agreement replaces the earlier one, others stay.
    state
        .set_baseline(&[
            (sku("TEE-1"), FieldKey::stock("Outlet"), Some(Value::Qty(4))),
            (sku("TEE-1"), FieldKey::variant(Field::Price), None),
        ])
        .unwrap();
    let loaded = state.load_baseline().unwrap();
    assert_eq!(loaded.len(), entries.len());
    assert_eq!(
        loaded[&(sku("TEE-1"), FieldKey::stock("Outlet"))],
        Some(Value::Qty(4))
    );
    assert_eq!(
        loaded[&(sku("TEE-1"), FieldKey::variant(Field::Price))],
        None
    );
}

#[test]
fn a_failed_baseline_write_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = State::open(tmp.path(), &scope()).unwrap();
    // Make the third insert fail inside the transaction.
    state
        .conn
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON baseline WHEN NEW.sku = 'BAD'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let mut entries = sample_baseline();
    entries.insert(2, (sku("BAD"), FieldKey::variant(Field::Price), None));
    assert!(state.set_baseline(&entries).is_err());
    assert!(state.load_baseline().unwrap().is_empty());
}

#[test]
fn runs_are_listed_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = State::open(tmp.path(), &scope()).unwrap();
    state
        .begin_run("b", "2026-11-28T09:00:00Z", "sync", false)
        .unwrap();
    state
        .begin_run("a", "2026-11-28T08:00:00Z", "sync", false)
        .unwrap();
    state
        .begin_run("c", "2026-11-28T10:00:00Z", "pull", false)
        .unwrap();
    let summary = json!({"planned": 2, "applied": 2, "failed": 0});
    state
        .finish_run(
            "a",
            "2026-11-28T08:01:00Z",
            0,
            &summary,
            r#"{"run_id":"a"}"#,
            &[],
        )
        .unwrap();
    state
        .finish_run(
            "b",
            "2026-11-28T09:01:00Z",
            3,
            &json!({}),
            r#"{"run_id":"b"}"#,
            &[],
        )
        .unwrap();

    let runs = state.list_runs(10).unwrap();
    let ids: Vec<_> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["c", "b", "a"]);
    assert_eq!(runs[0].finished_at, None);
    assert_eq!(runs[0].exit_code, None);
    assert_eq!(runs[0].summary, serde_json::Value::Null);
    assert_eq!(runs[0].command, "pull");
    assert_eq!(runs[1].exit_code, Some(3));
    assert_eq!(runs[2].summary, summary);
    assert_eq!(runs[2].finished_at.as_deref(), Some("2026-11-28T08:01:00Z"));
    assert_eq!(state.list_runs(2).unwrap().len(), 2);

    // `runs --json` keys, exactly (SPEC §5).
    let row = serde_json::to_value(&runs[2]).unwrap();
    let keys: Vec<_> = row.as_object().unwrap().keys().cloned().collect();
    let mut expected = [
        "run_id",
        "started_at",
        "finished_at",
        "dry_run",
        "exit_code",
        "summary",
    ]
    .map(String::from);
    expected.sort();
    assert_eq!(keys, expected);

    assert_eq!(
        state.run_report("a").unwrap().as_deref(),
        Some(r#"{"run_id":"a"}"#)
    );
    assert_eq!(state.run_report("c").unwrap(), None);
    assert_eq!(state.run_report("zzz").unwrap(), None);
    let err = state
        .finish_run("zzz", "t", 0, &json!({}), "{}", &[])
        .unwrap_err();
    assert!(matches!(err, StateError::UnknownRun { .. }), "{err}");
}

#[test]
fn journaled_but_unsettled_requests_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let body = br#"{"query":"mutation { x }","variables":{"k":"\u00e9"}}"#;
    let (kept, settled) = {
        let mut state = State::open(tmp.path(), &scope()).unwrap();
        state
            .begin_run("r1", "2026-11-28T08:00:00Z", "sync", false)
            .unwrap();
        let a = state
            .journal_request("r1", "key-a", "inventorySetQuantities", body, "[1]")
            .unwrap();
        let b = state
            .journal_request("r1", "key-b", "productVariantsBulkUpdate", b"{}", "[2]")
            .unwrap();
        let c = state
            .journal_request("r1", "key-c", "inventorySetQuantities", b"\x00\xff", "[3]")
            .unwrap();
        state.settle_request(b, Outcome::Applied, "{}").unwrap();
        state
            .settle_request(c, Outcome::Failed, r#"{"errors":[]}"#)
            .unwrap();
        // Dropped without settling `a`: as if the process died after sending it.
        (a, [b, c])
    };
    let mut state = State::open(tmp.path(), &scope()).unwrap();
    let unsettled = state.unsettled_requests().unwrap();
    assert_eq!(
        unsettled,
        [JournaledRequest {
            id: kept,
            run_id: "r1".into(),
            key: "key-a".into(),
            operation: "inventorySetQuantities".into(),
            body: body.to_vec(),
            items_json: "[1]".into(),
        }]
    );
    assert!(!settled.contains(&kept));
    state.settle_request(kept, Outcome::Skipped, "{}").unwrap();
    assert!(state.unsettled_requests().unwrap().is_empty());

    let err = state
        .journal_request("nope", "k", "op", b"", "[]")
        .unwrap_err();
    assert!(matches!(err, StateError::UnknownRun { .. }), "{err}");
    let err = state
        .settle_request(9_999, Outcome::Applied, "{}")
        .unwrap_err();
    assert!(
        matches!(err, StateError::UnknownRequest { id: 9_999 }),
        "{err}"
    );
}

#[test]
fn tokens_are_cached_replaced_and_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = State::open(tmp.path(), &scope()).unwrap();
    assert_eq!(state.get_token("shopify").unwrap(), None);
    state
        .put_token(
            "shopify",
            &Secret::new("shpat_first"),
            Some("2026-11-29T08:00:00Z"),
        )
        .unwrap();
    state
        .put_token("shopify", &Secret::new("shpat_second"), None)
        .unwrap();
    let tok = state.get_token("shopify").unwrap().unwrap();
    assert_eq!(tok.value.expose(), "shpat_second");
    assert_eq!(tok.expires_at, None);
    assert!(!format!("{tok:?}").contains("second"));
    state.delete_token("shopify").unwrap();
    assert_eq!(state.get_token("shopify").unwrap(), None);
}

#[test]
fn scopes_isolate_their_data() {
    let tmp = tempfile::tempdir().unwrap();
    let other = Scope::new("example.myshopify.com", "1AbC", "Outlet");
    let mut a = State::open(tmp.path(), &scope()).unwrap();
    let mut b = State::open(tmp.path(), &other).unwrap();
    a.set_baseline(&sample_baseline()).unwrap();
    a.begin_run("ra", "2026-11-28T08:00:00Z", "sync", false)
        .unwrap();
    a.journal_request("ra", "k", "op", b"{}", "[]").unwrap();
    a.put_token("shopify", &Secret::new("shpat_a"), None)
        .unwrap();
    b.begin_run("rb", "2026-11-28T09:00:00Z", "sync", false)
        .unwrap();

    assert!(b.load_baseline().unwrap().is_empty());
    assert_eq!(
        b.list_runs(10)
            .unwrap()
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>(),
        ["rb"]
    );
    assert!(b.unsettled_requests().unwrap().is_empty());
    assert_eq!(b.get_token("shopify").unwrap(), None);
    assert_eq!(b.run_report("ra").unwrap(), None);
    // Another scope's run cannot be finished, journaled into or settled from here.
    assert!(matches!(
        b.finish_run("ra", "t", 0, &json!({}), "{}", &[]),
        Err(StateError::UnknownRun { .. })
    ));
    assert!(matches!(
        b.journal_request("ra", "k", "op", b"", "[]"),
        Err(StateError::UnknownRun { .. })
    ));
    let id = a.unsettled_requests().unwrap()[0].id;
    assert!(matches!(
        b.settle_request(id, Outcome::Applied, "{}"),
        Err(StateError::UnknownRequest { .. })
    ));
    assert_eq!(a.unsettled_requests().unwrap().len(), 1);
    assert_eq!(a.load_baseline().unwrap().len(), sample_baseline().len());
}

#[test]
fn a_damaged_file_says_to_move_it_aside() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DB_FILE), vec![0x5a; 8192]).unwrap();
    for err in [
        State::open(tmp.path(), &scope()).unwrap_err(),
        State::open_read_only(tmp.path(), &scope()).unwrap_err(),
    ] {
        assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("move it aside") && msg.contains("no_baseline"),
            "{msg}"
        );
        assert!(msg.contains("state.sqlite3"), "{msg}");
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(State::open(tmp.path(), &scope()).unwrap());
    let conn = Connection::open(tmp.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = State::open(tmp.path(), &scope()).unwrap_err();
    assert!(matches!(err, StateError::TooNew { found: 99, .. }), "{err}");
    let err = State::open_read_only(tmp.path(), &scope()).unwrap_err();
    assert!(matches!(err, StateError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade sheetsync"));
}

#[test]
fn an_unmigrated_file_reads_as_no_state() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DB_FILE), b"").unwrap();
    let before = snapshot(tmp.path());
    assert!(
        State::open_read_only(tmp.path(), &scope())
            .unwrap()
            .is_none()
    );
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn the_writer_lock_names_its_holder_and_is_released_on_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".sheetsync");
    let held = WriterLock::acquire(&dir, &scope(), "`sheetsync watch`, started 08:15").unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(held.path()), 0o600);
    // A second open file description conflicts even within one process (flock).
    let err = WriterLock::acquire(&dir, &scope(), "`sheetsync sync`").unwrap_err();
    match &err {
        StateError::Locked { holder, .. } => {
            let me = format!(
                "pid {}: `sheetsync watch`, started 08:15",
                std::process::id()
            );
            assert_eq!(holder, &me);
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("sheetsync watch"));
    // Another scope has its own lock.
    let other = Scope::new("example.myshopify.com", "1AbC", "Outlet");
    let _other = WriterLock::acquire(&dir, &other, "`sheetsync sync`").unwrap();
    drop(held);
    let again = WriterLock::acquire(&dir, &scope(), "`sheetsync sync`").unwrap();
    let text = std::fs::read_to_string(again.path()).unwrap();
    assert_eq!(
        text,
        format!("pid {}: `sheetsync sync`\n", std::process::id())
    );
}

#[test]
fn scope_hashes_are_stable_and_distinct() {
    // A fixed value (FNV-1a, computed independently): lock file names must not change
    // between releases, or two versions could write at once.
    assert_eq!(scope().hash_hex(), "d77c9e6fc708cee9");
    assert_ne!(
        Scope::new("ab", "c", "d").hash_hex(),
        Scope::new("a", "bc", "d").hash_hex()
    );
}

// ----- across processes -----

const CHILD_ENV: &str = "SHEETSYNC_STATE_TEST_CHILD";
const READY: &str = "<<child ready>>";

/// Not a test on its own: the child half of the cross-process tests. It takes the lock
/// or writes the state as `SHEETSYNC_STATE_TEST_CHILD=<lock|write>:<dir>` says, prints
/// READY, and waits on stdin until its parent kills it.
#[test]
#[ignore = "run by the cross-process tests as a child process"]
fn child_process_helper() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (what, dir) = spec.split_once(':').unwrap();
    let dir = Path::new(dir);
    let _lock;
    let _state;
    match what {
        "lock" => _lock = WriterLock::acquire(dir, &scope(), "child holder").unwrap(),
        "write" => {
            let mut s = State::open(dir, &scope()).unwrap();
            s.set_baseline(&sample_baseline()).unwrap();
            _state = s;
        }
        other => panic!("unknown child mode {other}"),
    }
    // libtest has already printed "test … " on this line: the marker ends it.
    println!("{READY}");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn spawn_child(what: &str, dir: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "state::tests::child_process_helper",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, format!("{what}:{}", dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        if line.unwrap().ends_with(READY) {
            return child;
        }
    }
    let status = child.wait().unwrap();
    panic!("the child exited before it was ready ({status})");
}

#[test]
fn a_lock_held_by_another_process_names_it_and_dies_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn_child("lock", tmp.path());
    let err = WriterLock::acquire(tmp.path(), &scope(), "parent").unwrap_err();
    match err {
        StateError::Locked { holder, .. } => {
            assert_eq!(holder, format!("pid {}: child holder", child.id()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    child.kill().unwrap(); // SIGKILL: no destructor runs, the kernel drops the lock
    child.wait().unwrap();
    WriterLock::acquire(tmp.path(), &scope(), "parent").unwrap();
}

#[test]
fn a_dry_run_after_a_killed_writer_sees_its_commits_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn_child("write", tmp.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let names = file_names(tmp.path());
    assert_eq!(names, [DB_FILE, "state.sqlite3-shm", "state.sqlite3-wal"]);
    let r = State::open_read_only(tmp.path(), &scope())
        .unwrap()
        .unwrap();
    assert_eq!(r.load_baseline().unwrap(), as_map(&sample_baseline()));
    drop(r);
    assert_eq!(file_names(tmp.path()), names);
    // The next writer recovers the WAL as usual.
    let w = State::open(tmp.path(), &scope()).unwrap();
    assert_eq!(w.load_baseline().unwrap(), as_map(&sample_baseline()));
}

fn journal_row(kind: RowKind, field: Field, location: Option<&str>) -> JournalRow {
    JournalRow {
        kind,
        sku: sku("TEE-RED-S"),
        row: 7,
        key: FieldKey {
            field,
            location: location.map(str::to_owned),
        },
        from: Some(Value::Money(Decimal::new(1990, 2))),
        to: None,
        status: Some(RowStatus::Applied),
        error: Some("e".into()),
        note: Some("n".into()),
        created: Some(Created::Product),
        product: "Tee".into(),
    }
}

#[test]
fn a_runs_rows_round_trip_typed_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = State::open(tmp.path(), &scope()).unwrap();
    s.begin_run("r1", "2026-11-28T08:00:00Z", "sync", false)
        .unwrap();
    assert_eq!(s.run_rows("r1").unwrap(), None, "unfinished run");
    let mut stock = journal_row(RowKind::Pulled, Field::Inventory, Some("Main"));
    stock.from = Some(Value::Qty(14));
    stock.to = Some(Value::Qty(20));
    stock.status = None;
    stock.created = None;
    let mut text = journal_row(RowKind::Change, Field::Barcode, None);
    text.from = None;
    text.to = Some(Value::Text("0840".into()));
    let rows = vec![
        journal_row(RowKind::Change, Field::Price, None),
        stock,
        text,
    ];
    s.finish_run("r1", "t", 0, &json!({}), "not even JSON", &rows)
        .unwrap();
    drop(s);
    let r = State::open_read_only(tmp.path(), &scope())
        .unwrap()
        .unwrap();
    assert_eq!(r.run_rows("r1").unwrap(), Some(rows));
    assert_eq!(r.run_rows("nope").unwrap(), None);
}

#[test]
fn a_run_recorded_before_schema_2_has_no_rows_and_keeps_its_report() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    {
        // A schema-1 database as the previous build left it, with one finished run.
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(schema::MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.execute(
            "INSERT INTO scopes (shop, spreadsheet_id, tab) VALUES (?1, ?2, ?3)",
            params![scope().shop, scope().spreadsheet_id, scope().tab],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO runs (run_id, scope_id, command, started_at, finished_at, dry_run,
                               exit_code, summary_json, report_json)
             VALUES ('old', 1, 'sync', 't', 't', 0, 0, '{}', '{\"run_id\":\"old\"}')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    assert!(matches!(
        State::open_read_only(tmp.path(), &scope()),
        Err(StateError::NeedsUpgrade { found: 1, .. })
    ));
    let mut s = State::open(tmp.path(), &scope()).unwrap();
    assert_eq!(schema::version(&s.conn).unwrap(), schema::CURRENT_VERSION);
    assert_eq!(s.run_rows("old").unwrap(), None);
    assert_eq!(
        s.run_report("old").unwrap().as_deref(),
        Some("{\"run_id\":\"old\"}")
    );
    // A run finished by this build has rows, even none.
    s.begin_run("new", "u", "sync", false).unwrap();
    s.finish_run("new", "u", 0, &json!({}), "{}", &[]).unwrap();
    assert_eq!(s.run_rows("new").unwrap(), Some(Vec::new()));
}
