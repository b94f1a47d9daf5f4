//! The store from async code: opened and called through `open_async` and `Store::blocking`
//! from tasks of a multi-thread tokio runtime, where a direct PostgreSQL call would panic.

use super::*;

conformance!(async_tasks_share_the_store_through_blocking);

/// Tasks on a multi-thread runtime open the store, write runs and read them back at once, and
/// drop the last handle inside the runtime.
fn async_tasks_share_the_store_through_blocking(db: &mut TestDb) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let location = db.location.clone();
    let ids = runtime.block_on(async move {
        let store = picket_store::open_async(&location).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = store
                        .blocking(move |s| {
                            let t = targets("192.0.2.0/29");
                            let id = s.begin_run(&t, &profile(), ts(T0 + i))?;
                            s.finish_run(&realistic_run(id, &t))?;
                            Ok(id)
                        })
                        .await
                        .unwrap();
                    let run = store.blocking(move |s| s.run(id)).await.unwrap().unwrap();
                    assert_eq!(run.hosts.len(), 3);
                    id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        let listed = store.blocking(|s| s.runs(100)).await.unwrap();
        assert_eq!(listed.len(), 8);
        // An error comes back as the store's error, kind and all.
        let err = store
            .blocking(|s| s.save_hosts(RunId(9_999), &[]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), picket_store::ErrorKind::Refused);
        ids
    });
    ids.iter().for_each(|id| assert!(id.0 > 0));
    // What the tasks stored is there for a handle opened outside the runtime.
    assert_eq!(db.open().runs(100).unwrap().len(), 8);
}
