//! A task waiting in a stream read is reported (by `aio_task::task_infos`, the await graph) as
//! suspended at the line of that read, not somewhere inside aio-streams.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::rc::Rc;

use aio_streams::StreamReader;
use aio_task::{Error, create_task, run, task_infos};

#[test]
fn a_task_waiting_for_a_line_is_suspended_at_the_readline() {
    run(async {
        let reader = Rc::new(StreamReader::new());
        let (r, lines) = (reader.clone(), Rc::new(std::cell::RefCell::new(Vec::new())));
        let l = lines.clone();
        let task = create_task(async move {
            l.borrow_mut().push(line!() + 1);
            let first = r.readline().await?;
            l.borrow_mut().push(line!() + 1);
            let rest = r.readexactly(4).await?;
            Ok::<_, aio_streams::StreamError>((first, rest))
        })?;
        task.set_name("reader");
        for expected in 0..2 {
            for _ in 0..3 {
                aio_scheduler::sleep(0).await?;
            }
            let infos = task_infos()?;
            let me = infos.iter().find(|i| i.name == "reader").unwrap();
            let at = me.suspended_at.expect("parked in a read");
            assert_eq!((at.file(), at.line()), (file!(), lines.borrow()[expected]));
            if expected == 0 {
                reader.feed_data(b"ab\nc");
            }
        }
        reader.feed_data(b"def");
        let (first, rest) = task.await??;
        assert_eq!((first, rest), (b"ab\n".to_vec(), b"cdef".to_vec()));
        Ok::<_, Error>(())
    })
    .unwrap()
    .unwrap();
}
