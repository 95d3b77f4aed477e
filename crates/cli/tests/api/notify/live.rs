//! Live updates over Server-Sent Events: a stream shows an invitation's arrival, its withdrawal as a
//! removal that does not say why, and an acceptance; a reconnection with `Last-Event-ID` replays
//! what was missed, in order, even between the two events one change sends together; and a member
//! may hold only so many streams.

use super::*;

/// How long a test waits for something that should happen within a second. Only a bound on a
/// failure, never a measurement.
const PATIENCE: Duration = Duration::from_secs(10);

/// A Server-Sent Events client reading one response.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

impl Stream {
    async fn open(app: &TestApp, who: &Member, last_event_id: Option<&str>) -> Stream {
        let mut req = app
            .client
            .get(format!("{}/api/v1/events", app.base))
            .bearer_auth(&who.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (heartbeat comments skipped), or `None` when none comes in `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(e) = crate::sse::take_event(&mut self.buffer) {
                return Some(Sse {
                    id: e.id,
                    event: e.event,
                    data: serde_json::from_str(&e.data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn live_streams_show_arrivals_and_silent_removals() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let mut stream = Stream::open(&app, &bob, None).await;

    let id = app.invite_ok(&ada, &bob).await;
    let e = stream.next(PATIENCE).await.expect("invitation.received");
    assert_eq!(e.event, "invitation.received");
    assert_eq!(e.data["invitation"]["id"], id.as_str());
    assert_eq!(e.data["invitation"]["state"], "pending");
    let e = stream.next(PATIENCE).await.expect("notification.created");
    assert_eq!(e.event, "notification.created");
    assert_eq!(e.data["unread"], 1);
    assert_eq!(e.data["notification"]["kind"], "invitation_received");
    let seen = e.id.clone();

    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    let e = stream.next(PATIENCE).await.expect("invitation.removed");
    assert_eq!(e.event, "invitation.removed");
    assert_eq!(e.data["invitation_id"], id.as_str());
    assert_eq!(e.data["unread"], 0);
    let text = e.data.to_string();
    assert!(!text.contains("withdr"), "the removal says why: {text}");
    assert!(stream.next(Duration::from_millis(300)).await.is_none());

    // An acceptance reaches the sender's stream.
    let mut ada_stream = Stream::open(&app, &ada, None).await;
    let eve = app.member("Eve").await;
    let to_eve = app.invite_ok(&ada, &eve).await;
    assert_eq!(app.accept(&eve, &to_eve).await.status(), 200);
    let e = ada_stream
        .next(PATIENCE)
        .await
        .expect("invitation.accepted");
    assert_eq!(e.event, "invitation.accepted");
    assert_eq!(e.data["connection"]["member"]["id"], eve.id.as_str());
    let e = ada_stream
        .next(PATIENCE)
        .await
        .expect("notification.created");
    assert_eq!(e.data["notification"]["kind"], "invitation_accepted");

    // Reconnecting with Last-Event-ID replays what was missed, in order.
    drop(stream);
    let dee = app.member("Dee").await;
    let id = app.invite_ok(&dee, &bob).await;
    assert_eq!(app.accept(&bob, &id).await.status(), 200);
    let mut again = Stream::open(&app, &bob, Some(&seen)).await;
    let e = again.next(PATIENCE).await.expect("replayed removal");
    assert_eq!(e.event, "invitation.removed");
    let e = again.next(PATIENCE).await.expect("replayed arrival");
    assert_eq!(e.event, "invitation.received");
    assert_eq!(e.data["invitation"]["id"], id.as_str());
    // As it arrived: accepted since, but the event is its arrival.
    assert_eq!(e.data["invitation"]["state"], "pending");
    assert_eq!(e.data["invitation"]["decided_at"], Value::Null);

    // A cap on streams per member.
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(Stream::open(&app, &ada, None).await);
    }
    let r = app.get("/api/v1/events", &ada.token).await;
    assert_problem(r, 429, "rate_limited").await;
    drop(open);
    let r = app.get("/api/v1/events", "nope").await;
    assert_problem(r, 401, "unauthenticated").await;
}

/// An invitation's arrival and its notification are sent together; a client that drops right after
/// the first and resumes from its id gets the second, and every id is larger than the one before.
#[tokio::test]
async fn a_resume_between_two_events_sent_together_loses_neither() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let mut stream = Stream::open(&app, &bob, None).await;
    let id = app.invite_ok(&ada, &bob).await;
    let received = stream.next(PATIENCE).await.expect("invitation.received");
    assert_eq!(received.event, "invitation.received");
    let created = stream.next(PATIENCE).await.expect("notification.created");
    assert_eq!(created.event, "notification.created");
    let number = |e: &Sse| e.id.parse::<i64>().expect("an integer id");
    assert!(
        number(&created) > number(&received),
        "{received:?} {created:?}"
    );
    drop(stream);

    // Dropped after the arrival: the notification comes next, and nothing else.
    let mut resumed = Stream::open(&app, &bob, Some(&received.id)).await;
    let e = resumed.next(PATIENCE).await.expect("the second half");
    assert_eq!(e.event, "notification.created");
    assert_eq!(e.id, created.id);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    // From before both: both, in order; from after both: nothing.
    let mut from_start = Stream::open(&app, &bob, Some("0")).await;
    let first = from_start.next(PATIENCE).await.expect("the arrival");
    assert_eq!(
        (first.event.as_str(), first.id.as_str()),
        ("invitation.received", received.id.as_str())
    );
    assert_eq!(first.data["invitation"]["id"], id.as_str());
    let second = from_start.next(PATIENCE).await.expect("the notification");
    assert_eq!(second.id, created.id);
    let mut caught_up = Stream::open(&app, &bob, Some(&created.id)).await;
    assert!(caught_up.next(Duration::from_millis(300)).await.is_none());

    // Live events after a resume keep counting up.
    let cy = app.member("Cy").await;
    app.invite_ok(&cy, &bob).await;
    let next = resumed.next(PATIENCE).await.expect("a live arrival");
    assert!(number(&next) > number(&created), "{next:?}");
}
