//! One connection pool per state URL and process: every [`super::PgState`], every lease
//! ([`super::lease`]) and the fleet worker of a process that name the same URL share one
//! runtime thread (the [`Bridge`]) and at most `pool_size` connections. A call borrows a
//! connection for its one statement or its one transaction and gives it back, so a worker
//! uses `pool_size` connections however many pairs it owns.
//!
//! Nothing here depends on session state: the fencing check runs inside each write's own
//! transaction (`lease::check_in_tx`), no advisory lock and no `SET` is ever issued, so
//! any connection serves any call. A connection that broke (a server restart, a
//! terminated backend) is closed by tokio-postgres and discarded when it is next taken
//! or given back; a fresh one is opened in its place. Waiting for a free connection is
//! bounded ([`StateError::PoolExhausted`]).
//!
//! Hand-rolled rather than deadpool-postgres (FLEET.md's pick): see docs/shared-state.md
//! ("Connections"). In short, the connect path (`connect.rs`) chooses TLS or not per URL
//! at run time and verifies certificates its own way, every connection's I/O must live
//! on the bridge's runtime, and what is needed (a semaphore, an idle list, a closed
//! check) is smaller than the adapter deadpool would need.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use super::connect::{Bridge, Target};
use crate::state::StateError;

/// Connections per process and state URL unless `[state] pool_size` or
/// `SHEETSYNC_STATE_POOL_SIZE` says otherwise. Each call holds a connection for one short
/// statement or transaction (milliseconds), so a handful serve hundreds of pairs whose
/// syncs mostly wait on the store and the sheet; 8 also matches the pairs' runtime's
/// threads in `fleet run`, the most calls that can block on the state at once. Twelve
/// workers at the default stay under PostgreSQL's default `max_connections = 100`.
pub const DEFAULT_POOL_SIZE: usize = crate::config::DEFAULT_POOL_SIZE;

/// How long a call waits for a free connection before it fails. A call holds one for
/// milliseconds, so reaching this means the pool is far too small for the load or the
/// database hangs; either way a clear error beats a hang.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// What the work on a borrowed connection can fail with.
pub enum Failed {
    Pg(tokio_postgres::Error),
    State(StateError),
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Failed {
        Failed::Pg(e)
    }
}

impl From<StateError> for Failed {
    fn from(e: StateError) -> Failed {
        Failed::State(e)
    }
}

/// The shared pool of one state URL.
pub struct Pool {
    target: Target,
    size: usize,
    wait: Duration,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    // Last: idle connections go before the runtime that drives them.
    bridge: Bridge,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.target.shown)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The live pools of this process by URL. Weak: the pool (its thread and connections)
/// goes when the last state, lease or worker using it does.
static POOLS: Mutex<Vec<(String, Weak<Pool>)>> = Mutex::new(Vec::new());

impl Pool {
    /// The pool of `url` in this process, started with `size` connections at most if
    /// there is none yet. A pool already running keeps its size: in one process every
    /// caller reads the same `[state]` settings, and the first one (the fleet worker, or
    /// the command's lease) sets it.
    pub fn shared(url: &str, size: usize) -> Result<Arc<Pool>, StateError> {
        Pool::shared_with_wait(url, size, DEFAULT_WAIT)
    }

    /// [`Pool::shared`] with a bound on the wait for a free connection other than
    /// [`DEFAULT_WAIT`] (tests).
    pub fn shared_with_wait(
        url: &str,
        size: usize,
        wait: Duration,
    ) -> Result<Arc<Pool>, StateError> {
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|(_, p)| p.strong_count() > 0);
        if let Some(pool) = pools
            .iter()
            .find(|(u, _)| u == url)
            .and_then(|(_, p)| p.upgrade())
        {
            return Ok(pool);
        }
        let target = Target::parse(url)?;
        let size = size.max(1);
        let pool = Arc::new(Pool {
            target,
            size,
            wait,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            bridge: Bridge::start()?,
        });
        pools.push((url.to_owned(), Arc::downgrade(&pool)));
        Ok(pool)
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.target.shown
    }

    /// The most connections this pool opens at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Borrows a connection: an idle one that is still open, else a new one. Waits at
    /// most `wait` for one to be free. Runs on the bridge's runtime only (a new
    /// connection's I/O task is spawned where it is opened).
    async fn get(self: &Arc<Self>) -> Result<Conn, StateError> {
        let permit = match tokio::time::timeout(
            self.wait,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => {
                return Err(StateError::bridge(std::io::Error::other(
                    "the connection pool is closed",
                )));
            }
            Err(_) => {
                return Err(StateError::PoolExhausted {
                    url: self.target.shown.clone(),
                    size: self.size,
                    waited: self.wait,
                });
            }
        };
        loop {
            let next = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match next {
                Some(c) if c.is_closed() => continue,
                Some(c) => {
                    return Ok(Conn {
                        client: Some(c),
                        pool: Arc::clone(self),
                        _permit: permit,
                    });
                }
                None => break,
            }
        }
        let client = self.target.connect().await?;
        Ok(Conn {
            client: Some(client),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Runs `work` on a borrowed connection on the bridge, blocking the calling thread
    /// until it is done (the synchronous state port). Must not be called on the bridge's
    /// own thread.
    pub fn run<T, F, Fut>(self: &Arc<Self>, work: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failed>> + Send + 'static,
    {
        let pool = Arc::clone(self);
        self.bridge.run(async move { pool.borrowed(work).await })
    }

    /// Runs `work` on a borrowed connection on the bridge and awaits it from any
    /// runtime (the fleet worker, a lease's renewals). If the caller stops waiting, the
    /// work still runs to its end: a connection goes back to the pool only between
    /// statements, never in the middle of one.
    pub async fn exec<T, F, Fut>(self: &Arc<Self>, work: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failed>> + Send + 'static,
    {
        let pool = Arc::clone(self);
        self.bridge
            .spawn_with(async move { pool.borrowed(work).await })
            .await
            .map_err(|e| StateError::bridge(std::io::Error::other(e.to_string())))?
    }

    /// Starts `fut` on the bridge's runtime and returns at once.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.bridge.spawn(fut)
    }

    async fn borrowed<T, F, Fut>(self: &Arc<Self>, work: F) -> Result<T, StateError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, Failed>>,
    {
        let conn = self.get().await?;
        let shown = self.target.shown.clone();
        work(conn).await.map_err(|e| match e {
            Failed::Pg(e) => StateError::postgres(&shown, e),
            Failed::State(e) => e,
        })
    }
}

/// A borrowed connection: a [`Client`] by deref. Dropped, it goes back to the pool if
/// it is still open (a broken one is discarded, and the next borrower opens a new one).
/// A transaction left open is rolled back by tokio-postgres when its handle drops, before
/// the next borrower's statements (they are sent in order on the connection).
pub struct Conn {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Some until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(c) = self.client.take()
            && !c.is_closed()
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c);
        }
        // The permit is released after this, when the field drops: a waiter then finds
        // the connection in the idle list.
    }
}
