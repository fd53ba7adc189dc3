//! The Redis primitives of cluster mode against a real Redis (127.0.0.1:6379, started by the
//! machine or by scripts/test.sh), each test under its own key prefix so runs never collide.

use commonground::cluster::store::{Store, StoreError};

const URL: &str = "redis://127.0.0.1:6379/";

fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cgtest-{test}-{}-{nanos}", std::process::id())
}

async fn node(prefix: &str, name: &str) -> Store {
    Store::connect(URL, prefix, name, 5_000, 5)
        .await
        .expect("Redis on 127.0.0.1:6379 (scripts/test.sh starts one)")
}

/// One event appended at `seq` by the step every room input takes (`apply`), with an empty
/// input record.
async fn append(
    store: &Store,
    room: &str,
    epoch: u64,
    seq: u64,
    payload: &[u8],
) -> Result<u64, StoreError> {
    store
        .apply(room, epoch, seq, b"{}", &[payload.to_vec()])
        .await
}

#[tokio::test]
async fn exactly_one_of_two_racing_nodes_owns_a_new_room() {
    let p = prefix("race");
    let (a, b) = (node(&p, "a").await, node(&p, "b").await);
    let (ra, rb) = tokio::join!(a.acquire("evt-1/hall"), b.acquire("evt-1/hall"));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.is_some() ^ rb.is_some(), "{ra:?} {rb:?}");
    let owner = a.owner("evt-1/hall").await.unwrap().unwrap();
    assert_eq!(owner, if ra.is_some() { "a" } else { "b" });
}

#[tokio::test]
async fn appends_are_fenced_by_lease_epoch_and_sequence() {
    let p = prefix("fence");
    let (a, b) = (node(&p, "a").await, node(&p, "b").await);
    let room = "evt-2/hall";
    let e1 = a.acquire(room).await.unwrap().unwrap();
    append(&a, room, e1, 1, b"one").await.unwrap();
    append(&a, room, e1, 2, b"two").await.unwrap();
    let skip = append(&a, room, e1, 4, b"skip").await;
    assert!(
        matches!(
            skip,
            Err(StoreError::SeqMismatch {
                expected: 4,
                actual: 2
            })
        ),
        "{skip:?}"
    );
    assert!(matches!(
        append(&b, room, e1, 3, b"intruder").await,
        Err(StoreError::NotOwner)
    ));
    // Graceful handover: a releases, b takes over with a new epoch and continues the numbers.
    assert!(a.release(room).await.unwrap());
    let e2 = b.acquire(room).await.unwrap().unwrap();
    assert_eq!(e2, e1 + 1);
    assert!(matches!(
        append(&a, room, e1, 3, b"stale").await,
        Err(StoreError::NotOwner)
    ));
    append(&b, room, e2, 3, b"three").await.unwrap();
    assert_eq!(b.top(room).await.unwrap(), (e2, 3));
    assert!(!a.renew(room).await.unwrap());
    assert!(b.renew(room).await.unwrap());
}

#[tokio::test]
async fn a_gap_is_returned_exactly_or_reported_too_old() {
    let p = prefix("gap");
    let a = node(&p, "a").await; // history of 5 events
    let room = "evt-3/hall";
    let e = a.acquire(room).await.unwrap().unwrap();
    for seq in 1..=8u64 {
        append(&a, room, e, seq, format!("ev{seq}").as_bytes())
            .await
            .unwrap();
    }
    let gap = a.since(room, 5, 100).await.unwrap();
    assert!(gap.complete);
    assert_eq!(
        gap.entries.iter().map(|x| x.0).collect::<Vec<_>>(),
        [6, 7, 8]
    );
    assert_eq!(gap.entries[0].1, b"ev6");
    let nothing = a.since(room, 8, 100).await.unwrap();
    assert!(nothing.complete && nothing.entries.is_empty());
    let too_old = a.since(room, 1, 100).await.unwrap();
    assert!(
        !too_old.complete,
        "events 2 and 3 were trimmed: never a partial catch-up"
    );
}

#[tokio::test]
async fn appended_events_are_published_in_order() {
    use futures_util::StreamExt;
    let p = prefix("pub");
    let a = node(&p, "a").await;
    let room = "evt-4/hall";
    let client = redis::Client::open(URL).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(a.keys(room).events).await.unwrap();
    let e = a.acquire(room).await.unwrap().unwrap();
    for seq in 1..=20u64 {
        append(&a, room, e, seq, seq.to_string().as_bytes())
            .await
            .unwrap();
    }
    let mut stream = pubsub.on_message();
    for want in 1..=20u64 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap();
        let got: String = msg.get_payload().unwrap();
        assert_eq!(got, want.to_string());
    }
}

#[tokio::test]
async fn snapshots_are_fenced_too() {
    let p = prefix("snap");
    let (a, b) = (node(&p, "a").await, node(&p, "b").await);
    let room = "evt-5/hall";
    let e = a.acquire(room).await.unwrap().unwrap();
    a.snapshot_and_trim(room, e, 7, b"{\"state\":1}")
        .await
        .unwrap();
    assert_eq!(
        b.load_snapshot(room).await.unwrap(),
        Some((7, b"{\"state\":1}".to_vec()))
    );
    assert!(matches!(
        b.snapshot_and_trim(room, e, 8, b"x").await,
        Err(StoreError::NotOwner)
    ));
}

#[tokio::test]
async fn one_input_appends_its_events_and_itself_atomically() {
    let p = prefix("apply");
    let (a, b) = (node(&p, "a").await, node(&p, "b").await);
    let room = "evt-6/hall";
    let e = a.acquire(room).await.unwrap().unwrap();
    let top = a
        .apply(room, e, 1, b"in-1", &[b"ev1".to_vec(), b"ev2".to_vec()])
        .await
        .unwrap();
    assert_eq!(top, 2);
    // An input that caused no event is still logged, and numbering is unchanged.
    assert_eq!(a.apply(room, e, 3, b"in-2", &[]).await.unwrap(), 2);
    assert!(matches!(
        a.apply(room, e, 2, b"dup", &[b"x".to_vec()]).await,
        Err(StoreError::SeqMismatch {
            expected: 2,
            actual: 2
        })
    ));
    assert!(matches!(
        b.apply(room, e, 3, b"intruder", &[b"x".to_vec()]).await,
        Err(StoreError::NotOwner)
    ));
    let loaded = a.load(room).await.unwrap();
    assert_eq!(loaded.top, 2);
    assert_eq!(loaded.inputs, [b"in-1".to_vec(), b"in-2".to_vec()]);
    assert_eq!(loaded.snapshot, None);
    // A snapshot clears the inputs it includes, in the same step.
    a.snapshot_and_trim(room, e, 2, b"engine").await.unwrap();
    a.apply(room, e, 3, b"in-3", &[b"ev3".to_vec()])
        .await
        .unwrap();
    let loaded = a.load(room).await.unwrap();
    assert_eq!(loaded.snapshot, Some((2, b"engine".to_vec())));
    assert_eq!(loaded.inputs, [b"in-3".to_vec()]);
    assert_eq!(loaded.top, 3);
    let gap = a.since(room, 0, 10).await.unwrap();
    assert_eq!(gap.entries.len(), 3);
}

#[tokio::test]
async fn only_a_room_redis_lost_is_reseeded() {
    let p = prefix("reseed");
    let a = node(&p, "a").await;
    let room = "evt-7/hall";
    let e = a.acquire(room).await.unwrap().unwrap();
    a.apply(room, e, 1, b"in", &[b"ev".to_vec()]).await.unwrap();
    // Redis still knows the room: no reseed.
    assert_eq!(a.reseed(room, e, 1, b"s", b"m").await.unwrap(), None);
    // Redis lost it (as after a restart without persistence).
    let k = a.keys(room);
    let client = redis::Client::open(URL).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&k.lease)
        .arg(&k.epoch)
        .arg(&k.seq)
        .arg(&k.stream)
        .arg(&k.snap)
        .arg(&k.inputs)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(!a.known(room).await.unwrap());
    let e2 = a.reseed(room, e, 1, b"s", b"m").await.unwrap().unwrap();
    assert_eq!(e2, e + 1);
    assert_eq!(a.top(room).await.unwrap(), (e2, 1));
    a.apply(room, e2, 2, b"in2", &[b"ev2".to_vec()])
        .await
        .unwrap();
    assert_eq!(a.get_meta(room).await.unwrap(), Some(b"m".to_vec()));
}
