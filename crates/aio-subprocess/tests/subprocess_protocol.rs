//! `subprocess_exec` / `subprocess_shell` with a `SubprocessProtocol`: the callbacks in
//! asyncio's order (connection_made first; connection_lost last and once, only after the
//! child exited and every pipe closed), stdin written and closed, a child's closing of its
//! stdin noticed, `close` killing a running child, a panicking callback reported, and large
//! outputs delivered whole.
//!
//! Every await that a bug could turn into a hang goes through `wait_for(.., LIMIT)`.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::rc::Rc;

use aio_scheduler::get_running_loop;
use aio_subprocess::{
    PIPE, SubprocessError, SubprocessProtocol, SubprocessTransport, create_subprocess_exec,
    subprocess_exec, subprocess_shell,
};
use aio_task::{Error, run, wait_for};
use common::LIMIT;

type Log = Rc<RefCell<Vec<String>>>;

/// Records every callback (data as text, per fd); panics on data containing "PANIC".
struct Recorder {
    log: Log,
    bytes: [usize; 3],
}

impl Recorder {
    fn new(log: &Log) -> impl FnOnce() -> Recorder + 'static {
        let log = log.clone();
        move || Recorder { log, bytes: [0; 3] }
    }
}

impl SubprocessProtocol for Recorder {
    fn connection_made(&mut self, transport: &SubprocessTransport) {
        assert!(transport.get_pid() > 0);
        self.log.borrow_mut().push("made".into());
    }
    fn pipe_data_received(&mut self, fd: i32, data: &[u8]) {
        self.bytes[fd as usize] += data.len();
        let text = String::from_utf8_lossy(data);
        if data.len() < 100 {
            self.log
                .borrow_mut()
                .push(format!("data {fd} {}", text.trim_end()));
        }
        if text.contains("PANIC") {
            panic!("protocol bug");
        }
    }
    fn pipe_connection_lost(&mut self, fd: i32, error: Option<io::Error>) {
        assert!(error.is_none(), "pipe {fd}: {error:?}");
        self.log.borrow_mut().push(format!("pipe_lost {fd}"));
    }
    fn process_exited(&mut self) {
        self.log.borrow_mut().push("exited".into());
    }
    fn connection_lost(&mut self, error: Option<io::Error>) {
        assert!(error.is_none());
        self.log.borrow_mut().push("lost".into());
    }
}

fn position(log: &[String], entry: &str) -> usize {
    let found: Vec<usize> = (0..log.len()).filter(|&i| log[i] == entry).collect();
    assert_eq!(found.len(), 1, "{entry:?} once in {log:?}");
    found[0]
}

/// The invariants of asyncio's order, for a child whose three streams were pipes.
fn assert_asyncio_order(log: &[String]) {
    assert_eq!(log.first().map(String::as_str), Some("made"), "{log:?}");
    assert_eq!(log.last().map(String::as_str), Some("lost"), "{log:?}");
    let lost = position(log, "lost");
    assert!(position(log, "exited") < lost);
    for fd in 0..3 {
        let pipe_lost = position(log, &format!("pipe_lost {fd}"));
        assert!(pipe_lost < lost);
        // No data on a pipe after it closed.
        assert!(
            !log[pipe_lost..]
                .iter()
                .any(|e| e.starts_with(&format!("data {fd} "))),
            "{log:?}"
        );
    }
}

/// Lets the loop run a few more iterations (to catch a second `connection_lost`).
async fn settle() {
    for _ in 0..20 {
        aio_scheduler::sleep(0.001).await.unwrap();
    }
}

/// Waits for the transport to close (within `LIMIT`), then [`settle`]s.
async fn closed_and_settled(transport: &SubprocessTransport) -> Result<(), Error> {
    wait_for(transport.wait_closed(), LIMIT).await?;
    settle().await;
    Ok(())
}

/// Runs `test` on a new loop, giving it the log its [`Recorder`]s write to; the log once
/// the loop is done.
fn run_recorded<Fut>(test: impl FnOnce(Log) -> Fut) -> Vec<String>
where
    Fut: Future<Output = Result<(), Error>> + 'static,
{
    let log: Log = Rc::default();
    run(test(log.clone())).unwrap().unwrap();
    log.take()
}

/// A child that writes to both outputs and exits without reading its stdin: the closing of
/// its stdin's read end is noticed (pipe_connection_lost(0)), so connection_lost comes
/// without the parent closing anything.
#[test]
fn callbacks_in_asyncio_order() {
    let log = run_recorded(|l| async move {
        let (transport, _protocol) =
            subprocess_shell(Recorder::new(&l), "echo out; echo err >&2; exit 4").await?;
        assert_eq!(
            *l.borrow(),
            ["made"],
            "connection_made ran before the return"
        );
        wait_for(transport.wait_closed(), LIMIT).await?;
        assert_eq!(transport.get_returncode(), Some(4));
        settle().await;
        Ok(())
    });
    assert_asyncio_order(&log);
    assert!(log.contains(&"data 1 out".to_string()), "{log:?}");
    assert!(log.contains(&"data 2 err".to_string()), "{log:?}");
}

#[test]
fn stdin_written_and_closed() {
    let log = run_recorded(|l| async move {
        let (transport, _) = subprocess_exec(Recorder::new(&l), "cat", [] as [&str; 0]).await?;
        let stdin = transport.stdin().expect("stdin is a pipe");
        stdin.write(b"round trip\n");
        stdin.close();
        assert_eq!(wait_for(transport.wait(), LIMIT).await??, 0);
        closed_and_settled(&transport).await?;
        Ok(())
    });
    assert_asyncio_order(&log);
    assert!(log.contains(&"data 1 round trip".to_string()), "{log:?}");
}

/// The child exits while a grandchild still holds its pipes: process_exited comes, but
/// connection_lost waits until the pipes close (when the grandchild, released through stdin,
/// ends).
#[test]
fn connection_lost_waits_for_the_pipes_after_the_exit() {
    let log = run_recorded(|l| async move {
        // The background job keeps the pipes (stdin as fd 3: an asynchronous list's own
        // stdin is /dev/null) and waits for a line on it.
        let script = "exec 3<&0; (read x <&3; echo late) & echo early";
        let (transport, _) = subprocess_shell(Recorder::new(&l), script).await?;
        assert_eq!(wait_for(transport.wait(), LIMIT).await??, 0);
        wait_for(
            async {
                while !l.borrow().contains(&"exited".to_string()) {
                    aio_scheduler::sleep(0.001).await.unwrap();
                }
            },
            LIMIT,
        )
        .await?;
        settle().await;
        assert!(
            !l.borrow().contains(&"lost".to_string()),
            "{:?}",
            l.borrow()
        );
        assert!(!l.borrow().iter().any(|e| e.starts_with("pipe_lost")));
        transport.stdin().unwrap().write(b"go\n");
        closed_and_settled(&transport).await?;
        Ok(())
    });
    assert_asyncio_order(&log);
    assert!(
        position(&log, "exited") < position(&log, "data 1 late"),
        "{log:?}"
    );
}

/// `close` on a running child: the pipes close (each reported), the child is killed, and
/// connection_lost follows.
#[test]
fn close_kills_a_running_child() {
    let log = run_recorded(|l| async move {
        let (transport, _) = subprocess_exec(Recorder::new(&l), "sleep", ["30"]).await?;
        transport.close();
        transport.close();
        assert!(transport.is_closing());
        assert_eq!(wait_for(transport.wait(), LIMIT).await??, -9);
        closed_and_settled(&transport).await?;
        assert!(matches!(
            transport.kill(),
            Err(SubprocessError::ProcessLookup { .. })
        ));
        Ok(())
    });
    assert_asyncio_order(&log);
}

/// A panic in pipe_data_received goes to the loop's exception handler; the transport goes on
/// to its end (asyncio's callbacks: "Exception in callback").
#[test]
fn a_panicking_callback_is_reported_and_the_transport_goes_on() {
    let reported: Log = Rc::default();
    let r = reported.clone();
    let log = run_recorded(|l| async move {
        get_running_loop()?.set_exception_handler(move |_, ctx| {
            r.borrow_mut().push(ctx.message.clone());
        });
        let (transport, _) =
            subprocess_shell(Recorder::new(&l), "echo PANIC; sleep 0.1; echo after").await?;
        closed_and_settled(&transport).await?;
        Ok(())
    });
    assert_asyncio_order(&log);
    assert!(log.contains(&"data 1 after".to_string()), "{log:?}");
    assert_eq!(
        *reported.borrow(),
        ["Exception in callback protocol.pipe_data_received()"]
    );
}

/// 4 MiB on stdout and 1 MiB on stderr, all delivered.
#[test]
fn large_outputs_arrive_whole() {
    let log: Log = Rc::default();
    let l = log.clone();
    let bytes = run(async move {
        let (transport, protocol) = subprocess_shell(
            Recorder::new(&l),
            "head -c 4194304 /dev/zero; head -c 1048576 /dev/zero >&2",
        )
        .await?;
        wait_for(transport.wait_closed(), LIMIT).await?;
        let bytes = protocol.borrow().bytes;
        Ok::<_, Error>(bytes)
    })
    .unwrap()
    .unwrap();
    assert_eq!(bytes, [0, 4 << 20, 1 << 20]);
    assert_asyncio_order(&log.borrow());
}

/// Through the builder: only stdout a pipe, a working directory; only pipe 1 is reported.
#[test]
fn builder_settings_with_a_protocol() {
    let log = run_recorded(|l| async move {
        let (transport, _) = create_subprocess_exec("pwd", [] as [&str; 0])
            .cwd("/")
            .stdout(PIPE)
            .protocol(Recorder::new(&l))
            .await?;
        assert!(transport.stdin().is_none());
        closed_and_settled(&transport).await?;
        Ok(())
    });
    assert_eq!(log[0], "made");
    assert_eq!(log.last().unwrap(), "lost");
    assert!(log.contains(&"data 1 /".to_string()), "{log:?}");
    assert!(log.contains(&"pipe_lost 1".to_string()));
    assert!(!log.iter().any(|e| e == "pipe_lost 0" || e == "pipe_lost 2"));
}

#[test]
fn a_missing_program_is_a_spawn_error() {
    let log: Log = Rc::default();
    let l = log.clone();
    let outcome = run(async move {
        subprocess_exec(Recorder::new(&l), "/no/such/program", [] as [&str; 0])
            .await
            .map(|_| ())
    })
    .unwrap();
    assert!(
        matches!(outcome, Err(SubprocessError::Spawn { .. })),
        "{outcome:?}"
    );
    assert!(log.borrow().is_empty(), "connection_made is not called");
}
