//! A small pool of open connections, shared by the threads of one process.
//!
//! Connections are opened on demand up to a maximum and kept for reuse; a thread that finds
//! every connection taken waits for one to come back. A connection goes back to the pool only
//! if it can still be used: one the server closed, or one whose thread panicked while holding
//! it (a transaction may be left open on it), is dropped instead.
//!
//! Why not r2d2: it fits our driver versions, but it reports a connection it could not open
//! as a timeout with the message alone (the store's typed error, and with it the error's kind,
//! is lost), it cannot take the connection that [`crate::open`] already opened and migrated,
//! and it runs a background thread pool per pool. The pool must never hand one connection to
//! two threads at once, nor return a connection in the middle of a transaction.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::conn::Conn;
use crate::error::StoreError;

/// Opens a new connection for the pool.
type Connect<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

pub(crate) struct Pool<C> {
    state: Mutex<State<C>>,
    returned: Condvar,
    max: usize,
    connect: Connect<C>,
}

struct State<C> {
    idle: Vec<C>,
    /// Connections open, idle or lent out.
    open: usize,
}

impl<C: Conn> Pool<C> {
    /// A pool of at most `max` connections (at least one), starting with `first` if given.
    pub(crate) fn new(max: usize, first: Option<C>, connect: Connect<C>) -> Self {
        let open = usize::from(first.is_some());
        Self {
            state: Mutex::new(State {
                idle: first.into_iter().collect(),
                open,
            }),
            returned: Condvar::new(),
            max: max.max(1),
            connect,
        }
    }

    /// The state stays consistent whatever panicked while holding the lock: every change to
    /// it is one statement.
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one if fewer than `max` are open, or else the next one
    /// returned.
    pub(crate) fn get(&self) -> Result<Pooled<'_, C>, StoreError> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    conn: Some(conn),
                    pool: self,
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match (self.connect)() {
                    Ok(conn) => Ok(Pooled {
                        conn: Some(conn),
                        pool: self,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Takes every idle connection out of the pool (to close them elsewhere).
    pub(crate) fn take_idle(&self) -> Vec<C> {
        let mut state = self.lock();
        state.open -= state.idle.len();
        std::mem::take(&mut state.idle)
    }

    fn put_back(&self, conn: C) {
        let mut state = self.lock();
        if conn.is_broken() || std::thread::panicking() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.returned.notify_one();
    }
}

/// A connection lent out by a [`Pool`]; it goes back when dropped.
pub(crate) struct Pooled<'a, C: Conn> {
    conn: Option<C>,
    pool: &'a Pool<C>,
}

impl<C: Conn> Deref for Pooled<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl<C: Conn> DerefMut for Pooled<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}

impl<C: Conn> Drop for Pooled<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::conn::{Row, Value};
    use crate::error::DbError;
    use crate::sql::Dialect;

    /// A connection that does nothing and can be told it is broken.
    struct Fake {
        broken: Arc<AtomicBool>,
    }

    impl Conn for Fake {
        fn dialect(&self) -> Dialect {
            Dialect::Sqlite
        }
        fn execute(&mut self, _: &str, _: &[Value]) -> Result<u64, DbError> {
            Ok(0)
        }
        fn query(&mut self, _: &str, _: &[Value]) -> Result<Vec<Row>, DbError> {
            Ok(Vec::new())
        }
        fn insert_id(&mut self, _: &str, _: &[Value]) -> Result<Option<i64>, DbError> {
            Ok(None)
        }
        fn query_each(
            &mut self,
            _: &str,
            _: &[Value],
            _: &mut dyn FnMut(Row) -> Result<(), StoreError>,
        ) -> Result<Result<(), StoreError>, DbError> {
            Ok(Ok(()))
        }
        fn batch(&mut self, _: &str) -> Result<(), DbError> {
            Ok(())
        }
        fn is_broken(&self) -> bool {
            self.broken.load(Ordering::SeqCst)
        }
    }

    fn pool(max: usize, opened: &Arc<AtomicUsize>, broken: &Arc<AtomicBool>) -> Pool<Fake> {
        let (opened, broken) = (opened.clone(), broken.clone());
        Pool::new(
            max,
            None,
            Box::new(move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Fake {
                    broken: broken.clone(),
                })
            }),
        )
    }

    #[test]
    fn reuses_connections_and_opens_no_more_than_max() {
        let opened = Arc::new(AtomicUsize::new(0));
        let broken = Arc::new(AtomicBool::new(false));
        let pool = pool(2, &opened, &broken);
        drop(pool.get().unwrap());
        drop(pool.get().unwrap());
        assert_eq!(opened.load(Ordering::SeqCst), 1, "an idle one is reused");
        let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // A third waits until one comes back.
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| pool.get().map(drop));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiter.is_finished());
            drop(a);
            waiter.join().unwrap().unwrap();
        });
        drop(b);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_broken_connection_is_dropped_and_replaced() {
        let opened = Arc::new(AtomicUsize::new(0));
        let broken = Arc::new(AtomicBool::new(false));
        let pool = pool(1, &opened, &broken);
        let conn = pool.get().unwrap();
        broken.store(true, Ordering::SeqCst);
        drop(conn);
        broken.store(false, Ordering::SeqCst);
        drop(pool.get().unwrap());
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert!(pool.take_idle().len() == 1);
    }

    #[test]
    fn a_failed_connect_frees_its_slot() {
        let pool: Pool<Fake> = Pool::new(1, None, Box::new(|| Err(StoreError::EmptyLocation)));
        assert!(pool.get().is_err());
        assert!(
            pool.get().is_err(),
            "the slot of the failed connect is free again"
        );
    }
}
