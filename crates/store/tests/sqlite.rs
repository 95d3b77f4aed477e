//! The embedded store on a real temporary database: group commit, refusals inside a batch, the
//! member cache and the commit hook.

use rapport_domain::{Action, Email, MemberId, Note, RuleError, Timestamp};
use rapport_store::sqlite::SqliteStore;
use rapport_store::*;
use std::sync::{Arc, Mutex};

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn open(dir: &tempfile::TempDir) -> (SqliteStore, Arc<Mutex<Vec<Change>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: CommitHook =
        Arc::new(move |changes: &[Change]| log.lock().expect("lock").extend_from_slice(changes));
    let store = SqliteStore::open(&dir.path().join("rapport.db"), hook).expect("opens");
    (store, seen)
}

fn new_member(i: usize) -> NewMember {
    NewMember {
        email: Email::parse(&format!("m{i}@example.com")).expect("email"),
        password_hash: "x".into(),
        name: format!("Member {i}"),
        headline: String::new(),
        company: String::new(),
        location: String::new(),
        at: T0,
    }
}

fn send(sender: MemberId, recipient: MemberId) -> SendInvitation {
    SendInvitation {
        sender,
        recipient,
        note: Note::parse("hi", 300).expect("note"),
        recipient_email: None,
        shares_connection: false,
        policy: SendPolicy {
            weekly_free: 1_000,
            weekly_premium: 1_000,
            outstanding: 1_000,
            max_connections: 1_000,
            first_reminder: Some(std::time::Duration::from_secs(7 * 86_400)),
        },
        at: T0,
    }
}

const ACT: ActPolicy = ActPolicy {
    max_connections: 1_000,
    reinvite_cooldown: std::time::Duration::from_secs(86_400),
    withdrawal_notice: rapport_domain::WithdrawalNotice::Silent,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_all_committed() {
    // Many writers at once are folded into few commits, and every one of them lands.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(&dir);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let s = store.clone();
        tasks.spawn(async move { s.create_member(new_member(i)).await });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        ids.push(r.expect("joined").expect("created").id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300);
    assert_eq!(store.members(&ids).await.expect("members").len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_write_leaves_the_rest_of_its_batch_intact() {
    // Identical sends race in one batch: one invitation is created, the others are refused, and
    // the refusals undo nothing of the winner.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(&dir);
    let a = store.create_member(new_member(1)).await.expect("a").id;
    let b = store.create_member(new_member(2)).await.expect("b").id;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let s = store.clone();
        tasks.spawn(async move { s.send_invitation(send(a, b)).await });
    }
    let (mut created, mut pending) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("joined") {
            Ok(SendOutcome::Created(_)) => created += 1,
            Err(StoreError::Rule(RuleError::InvitationPending)) => pending += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created, pending), (1, 39));
    assert_eq!(
        store.received(b, None, 100).await.expect("received").len(),
        1
    );
}

#[tokio::test]
async fn accepting_connects_both_ways_and_reports_it_to_the_hook() {
    // The commit hook hears of a connection once its commit is done, before the caller is answered.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, seen) = open(&dir);
    let a = store.create_member(new_member(1)).await.expect("a").id;
    let b = store.create_member(new_member(2)).await.expect("b").id;
    let SendOutcome::Created(inv) = store.send_invitation(send(a, b)).await.expect("sent") else {
        panic!("expected a new invitation");
    };
    let acted = store
        .act(inv.id, b, Action::Accept, ACT, T0)
        .await
        .expect("accepted");
    assert_eq!(acted.connection.map(|c| c.member), Some(a));
    assert!(seen
        .lock()
        .expect("lock")
        .contains(&Change::Connected(b, a)));
    let mut edges = Vec::new();
    store
        .scan_connections(&mut |x, y| edges.push((x, y)))
        .await
        .expect("edges");
    assert_eq!(edges, vec![(a, b), (b, a)]);
    let again = store.act(inv.id, b, Action::Accept, ACT, T0).await;
    assert!(matches!(
        again,
        Err(StoreError::Rule(RuleError::NotPending))
    ));
}

#[tokio::test]
async fn the_member_cache_follows_profile_updates() {
    // A read after an update sees the update, even when the member was cached before it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(&dir);
    let a = store.create_member(new_member(1)).await.expect("a").id;
    assert_eq!(
        store
            .member(a)
            .await
            .expect("read")
            .expect("exists")
            .headline,
        ""
    );
    let patch = ProfilePatch {
        headline: Some("Engineer".into()),
        ..Default::default()
    };
    store.update_profile(a, patch).await.expect("updated");
    assert_eq!(
        store
            .member(a)
            .await
            .expect("read")
            .expect("exists")
            .headline,
        "Engineer"
    );
}

#[tokio::test]
async fn everything_acknowledged_is_there_after_reopening() {
    // Closing and reopening the store loses nothing that was acknowledged.
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = {
        let (store, _) = open(&dir);
        let a = store.create_member(new_member(1)).await.expect("a").id;
        let b = store.create_member(new_member(2)).await.expect("b").id;
        store.send_invitation(send(a, b)).await.expect("sent");
        (a, b)
    };
    let (store, _) = open(&dir);
    let pending = store
        .pending_between(b, a)
        .await
        .expect("read")
        .expect("still pending");
    assert_eq!((pending.sender, pending.recipient), (a, b));
}

#[tokio::test]
async fn the_weekly_count_reads_only_the_window() {
    // Sends older than the window do not count; the count never exceeds the cap asked for.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(&dir);
    let a = store.create_member(new_member(0)).await.expect("a").id;
    for i in 1..=5 {
        let r = store.create_member(new_member(i)).await.expect("r").id;
        let at = Timestamp(T0.0 + i as i64 * 1000);
        store
            .send_invitation(SendInvitation { at, ..send(a, r) })
            .await
            .expect("sent");
    }
    let w = store
        .sent_since(a, Timestamp(T0.0 + 2500), 100)
        .await
        .expect("count");
    assert_eq!((w.count, w.oldest), (3, Some(Timestamp(T0.0 + 3000))));
    let capped = store.sent_since(a, T0, 2).await.expect("count");
    assert_eq!(
        (capped.count, capped.oldest),
        (2, Some(Timestamp(T0.0 + 4000)))
    );
}

#[tokio::test]
async fn counters_follow_sends_decisions_and_removals() {
    // The pending and connection counts the rules read stay equal to what they count.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(&dir);
    let a = store.create_member(new_member(1)).await.expect("a").id;
    let b = store.create_member(new_member(2)).await.expect("b").id;
    let c = store.create_member(new_member(3)).await.expect("c").id;
    let SendOutcome::Created(ab) = store.send_invitation(send(a, b)).await.expect("sent") else {
        panic!()
    };
    let SendOutcome::Created(_) = store.send_invitation(send(a, c)).await.expect("sent") else {
        panic!()
    };
    store
        .act(ab.id, b, Action::Accept, ACT, T0)
        .await
        .expect("accepted");
    let n = store
        .withdraw_older(a, T0, false, ACT, T0)
        .await
        .expect("withdrawn");
    assert_eq!(n, 1);
    store.remove_connection(a, b, T0).await.expect("removed");
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("rapport.db")).expect("open");
    let counts: Vec<(i64, i64)> = conn
        .prepare("SELECT pending_sent, connection_count FROM members ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(counts, vec![(0, 0), (0, 0), (0, 0)]);
    let cooldown: i64 = conn
        .query_row(
            "SELECT cooldown_until FROM pair_rules WHERE sender_id = ?1 AND recipient_id = ?2",
            [a.0, c.0],
            |r| r.get(0),
        )
        .expect("cooldown set by the bulk withdrawal");
    assert_eq!(cooldown, T0.0 + 86_400_000);
}
