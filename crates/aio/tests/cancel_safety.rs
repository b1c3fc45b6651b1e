//! The crate-level `# Cancel safety` summary, checked end to end through the facade the way
//! programs cancel: a loop that keeps timing out a cancel-safe operation (the `select`-with-a-
//! timer pattern) and starting it again must lose nothing — here `readline` on a socket whose
//! lines arrive in pieces, and `Queue::get` fed by a slow producer.

use std::rc::Rc;

use aio::{Error, Queue, create_task, open_connection, sleep, start_server, wait_for};

#[aio::test]
async fn readline_timed_out_over_and_over_loses_no_byte() -> Result<(), Error> {
    let server = start_server(
        |_reader, writer| async move {
            for line in [&b"first line\n"[..], b"second\n", b"third and last\n"] {
                for piece in line.chunks(3) {
                    writer.write(piece);
                    writer.drain().await?;
                    sleep(0.004).await?;
                }
            }
            writer.close();
            Ok::<_, Error>(())
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let (reader, _writer) = open_connection("127.0.0.1", server.port().unwrap()).await?;
    let (mut lines, mut cancelled) = (Vec::new(), 0);
    // Bounded: 5 s of 1 ms timeouts at most.
    for _ in 0..5000 {
        match wait_for(reader.readline(), 0.001).await {
            Err(Error::Timeout) => cancelled += 1,
            Ok(line) => {
                let line = line?;
                if line.is_empty() {
                    break; // EOF
                }
                lines.push(String::from_utf8(line).unwrap());
            }
            Err(other) => return Err(other),
        }
    }
    assert_eq!(lines, ["first line\n", "second\n", "third and last\n"]);
    assert!(cancelled > 0, "no readline was cancelled mid-way");
    Ok(())
}

#[aio::test]
async fn queue_get_timed_out_over_and_over_loses_no_item() -> Result<(), Error> {
    let queue = Rc::new(Queue::new(4));
    let q = queue.clone();
    let producer = create_task(async move {
        for n in 0..50u32 {
            q.put(n).await.unwrap();
            if n % 5 == 0 {
                sleep(0.003).await?;
            }
        }
        Ok::<_, Error>(())
    })?;
    let (mut items, mut cancelled) = (Vec::new(), 0);
    while items.len() < 50 && cancelled < 5000 {
        match wait_for(queue.get(), 0.001).await {
            Err(Error::Timeout) => cancelled += 1,
            Ok(item) => items.push(item.unwrap()),
            Err(other) => return Err(other),
        }
    }
    producer.await??;
    assert!(queue.empty());
    assert_eq!(items, (0..50).collect::<Vec<_>>());
    assert!(cancelled > 0, "no get was cancelled mid-way");
    Ok(())
}
