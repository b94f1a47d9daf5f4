//! TCP listeners inside a target namespace: a small tokio runtime on a thread that entered it.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::LabError;
use crate::netns;

/// The listen backlog; the kernel caps it at `net.core.somaxconn`, which the lab raises to the
/// same value inside targets.
const BACKLOG: i32 = 65_535;

/// How long an accept loop rests after an error (such as running out of file descriptors)
/// before trying again, so that a persistent error does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

/// Listening sockets inside a target, served until this guard is dropped. Dropping it closes
/// the sockets (the ports answer with resets again) and waits for the serving thread to end.
///
/// ```
/// # fn main() -> Result<(), picket_lab::LabError> {
/// # let Some(mut lab) = picket_lab::Lab::try_new("doc_listeners")? else { return Ok(()) };
/// let target = lab.add_target()?;
/// let listeners = target.listen(&[80])?;
/// assert_eq!(listeners.ports(), &[80]);
/// drop(listeners); // port 80 is closed again
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Listeners {
    ns: String,
    ports: Vec<u16>,
    accepted: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), LabError>>>,
}

impl Listeners {
    /// The ports served, sorted, without duplicates.
    ///
    /// ```
    /// # fn main() -> Result<(), picket_lab::LabError> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_ports")? else { return Ok(()) };
    /// let listeners = lab.add_target()?.listen(&[443, 80, 443])?;
    /// assert_eq!(listeners.ports(), &[80, 443]);
    /// # Ok(()) }
    /// ```
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// How many connections were accepted so far, over all ports and both address families.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let Some(mut lab) = picket_lab::Lab::try_new("doc_accepted")? else { return Ok(()) };
    /// let target = lab.add_target()?;
    /// let listeners = target.listen(&[80])?;
    /// let addr = std::net::SocketAddr::from((target.address_v4(), 80));
    /// lab.in_scanner(move || std::net::TcpStream::connect(addr).map(drop))??;
    /// // The connect returns once the handshake is done; the accept may follow a moment later.
    /// while listeners.accepted() == 0 {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        // Dropping the sender wakes the runtime, which then drops its sockets.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                // Drop cannot return the error; say it where the failing test shows it.
                Ok(Err(e)) => eprintln!("picket-lab: listener in {} failed: {e}", self.ns),
                Err(_) => eprintln!("picket-lab: listener thread in {} panicked", self.ns),
            }
        }
    }
}

/// Serves `ports` (IPv4 and IPv6) in `ns` until the returned guard drops.
pub(crate) fn listen(ns: &str, ports: &[u16]) -> Result<Listeners, LabError> {
    let ports: Vec<u16> = ports
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted = ports.clone();
    start(ns, ports, move |mut ctx| async move {
        let mut sockets = Vec::with_capacity(wanted.len() * 2);
        for port in wanted {
            sockets.extend(bind_both(&ctx.ns, port)?);
        }
        // Every socket is bound and listening: the caller may start connecting.
        ctx.ready();
        for listener in sockets {
            tokio::spawn(accept_loop(listener, ctx.accepted.clone()));
        }
        // Runs until the guard drops; then the runtime drops the accept tasks and their sockets.
        ctx.stopped().await;
        Ok(())
    })
}

/// Serves `port` during the first `period`, then not during the next, and so on.
pub(crate) fn flap(ns: &str, port: u16, period: Duration) -> Result<Listeners, LabError> {
    start(ns, vec![port], move |mut ctx| async move {
        let accepted = ctx.accepted.clone();
        // Phases are counted from one start instant, so they do not drift with the work done.
        let mut phase_end = Instant::now();
        loop {
            phase_end += period;
            let [v4, v6] = bind_both(&ctx.ns, port)?;
            ctx.ready();
            tokio::select! {
                () = ctx.stopped() => return Ok(()),
                () = tokio::time::sleep_until(phase_end) => {}
                () = accept_loop(v4, accepted.clone()) => {}
                () = accept_loop(v6, accepted.clone()) => {}
            }
            // The listeners were dropped with the select: the port answers resets now.
            phase_end += period;
            tokio::select! {
                () = ctx.stopped() => return Ok(()),
                () = tokio::time::sleep_until(phase_end) => {}
            }
        }
    })
}

/// What the serving task gets: its namespace, the accept counter, the readiness signal, and
/// the stop signal.
struct Context {
    ns: String,
    accepted: Arc<AtomicU64>,
    ready: Option<mpsc::Sender<()>>,
    stop: oneshot::Receiver<()>,
}

impl Context {
    /// Tells `start` that the sockets listen. Later calls do nothing.
    fn ready(&mut self) {
        if let Some(ready) = self.ready.take() {
            // The caller waits for this; if it is gone, nobody needs to know.
            let _ = ready.send(());
        }
    }

    /// Resolves when the guard drops.
    async fn stopped(&mut self) {
        // An error means the sender was dropped, which is the stop signal.
        let _ = (&mut self.stop).await;
    }
}

/// Starts the serving thread in `ns`, runs `serve` on a current-thread tokio runtime there, and
/// returns once `serve` called [`Context::ready`] (or failed before it).
fn start<F, Fut>(ns: &str, ports: Vec<u16>, serve: F) -> Result<Listeners, LabError>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), LabError>>,
{
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let accepted = Arc::new(AtomicU64::new(0));
    let ctx = Context {
        ns: ns.to_owned(),
        accepted: accepted.clone(),
        ready: Some(ready_tx),
        stop: stop_rx,
    };
    let owned = ns.to_owned();
    let thread = netns::spawn_in(ns, move || {
        // One thread is plenty: accepting and closing costs microseconds, and the code under
        // test needs the other cores.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| LabError::Runtime { ns: owned, source })?;
        runtime.block_on(serve(ctx))
    })?;
    match ready_rx.recv() {
        Ok(()) => Ok(Listeners {
            ns: ns.to_owned(),
            ports,
            accepted,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        // The thread ended without becoming ready: report why.
        Err(mpsc::RecvError) => match thread.join() {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(LabError::ListenerExited { ns: ns.to_owned() }),
            Err(panic) => std::panic::resume_unwind(panic),
        },
    }
}

/// Listens on `port` on every IPv4 and every IPv6 address of the namespace, as two sockets (the
/// IPv6 one is v6-only, so that both can bind the same port).
fn bind_both(ns: &str, port: u16) -> Result<[TcpListener; 2], LabError> {
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let bind = |addr| {
        bind_one(addr).map_err(|source| LabError::Listen {
            ns: ns.to_owned(),
            addr,
            source,
        })
    };
    Ok([bind(v4)?, bind(v6)?])
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Lets a flapping port bind again while connections from its last phase are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections and closes them at once (with a FIN, like a service that has nothing to
/// say), for ever.
async fn accept_loop(listener: TcpListener, accepted: Arc<AtomicU64>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                drop(stream);
            }
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}
