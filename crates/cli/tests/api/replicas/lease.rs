//! The background work (sweeps, mail, webhooks) runs on one replica only, under a lease in the
//! shared database, and moves to the other when its holder dies: mail is sent by the holder alone,
//! and nothing is sent twice.

use super::*;

// ----- 7. background work ---------------------------------------------------------------------

/// How long the background work may take to move when its holder dies: the lease runs 10 s unless
/// renewed, and the other replicas try to take it every 3 s.
const LEASE_PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_runs_on_one_replica_and_moves_when_it_dies() {
    let mut c = Cluster::start().await;

    // One replica takes the lease.
    let holder = eventually(LEASE_PATIENCE, "a replica takes the lease", || async {
        c.db.lease_holder()
            .await
            .ok_or_else(|| "no holder".to_owned())
    })
    .await;
    let a_holds = c.a.is(&holder);
    assert!(
        a_holds || c.b.is(&holder),
        "the holder {holder} is neither A (pid {}) nor B (pid {})",
        c.a.server.pid(),
        c.b.server.pid()
    );

    // Mail, which only the holder sends: an invitation sent through the other replica is mailed by
    // the holder, once, and the other writes nothing.
    let ada = c.a.server.api.signup_member("Ada Lease").await;
    let bob = c.b.server.api.signup_member("Bob Lease").await;
    let (holding, other) = if a_holds { (&c.a, &c.b) } else { (&c.b, &c.a) };
    let to_bob = other.server.api.invite_ok(&ada, &bob).await;
    let to_bob_id: i64 = to_bob.parse().expect("a numeric id");
    eventually(PATIENCE, "the holder mails Bob", || async {
        let queued =
            c.db.count(
                "SELECT count(*) FROM mail_queue WHERE invitation_id = $1",
                &[&to_bob_id],
            )
            .await;
        match holding.mails_to(&bob.email) {
            1 if queued == 0 => Ok(()),
            n => Err(format!("{n} mails in the holder's outbox, {queued} queued")),
        }
    })
    .await;
    assert_eq!(
        other.mails_to(&bob.email),
        0,
        "the replica without the lease mailed too"
    );

    // The holder dies; the other takes the lease over and the work with it.
    let (survivor, holder_name) = if a_holds {
        c.a.server.kill();
        (&c.b, "A")
    } else {
        c.b.server.kill();
        (&c.a, "B")
    };
    let taken = eventually(
        LEASE_PATIENCE,
        "the survivor takes the lease over",
        || async {
            match c.db.lease_holder().await {
                Some(h) if survivor.is(&h) => Ok(h),
                h => Err(format!("holder {h:?}")),
            }
        },
    )
    .await;
    assert_ne!(
        taken, holder,
        "killed {holder_name}: the lease is a new holder's"
    );

    let cy = survivor.server.api.signup_member("Cy Lease").await;
    survivor.server.api.invite_ok(&ada, &cy).await;
    eventually(PATIENCE, "the survivor mails Cy", || async {
        match survivor.mails_to(&cy.email) {
            1 => Ok(()),
            n => Err(format!("{n} mails to Cy")),
        }
    })
    .await;
    // Bob's mail, sent before the kill, is not sent again.
    assert_eq!(survivor.mails_to(&bob.email), 0, "Bob was mailed twice");
}
