//! Interop with CPython's asyncio: Python as the client of an aio server, and as the server
//! for an aio client. Skipped (with a note) when `python3` is not installed.

// The reactor AIO_REACTOR names (epoll by default) for every loop this binary makes.
use aio_reactors as _;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aio_streams::{StreamReader, StreamWriter, open_connection, start_server};
use aio_task::{Error, to_thread};

fn python_available() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: python3 not found, skipping the asyncio interop test");
    }
    found
}

/// Kills the child however the test ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CLIENT: &str = r#"
import asyncio, sys
async def main(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = bytes((i * 7 + 3) % 256 for i in range(300_000))
    for i in range(0, len(payload), 50_000):
        writer.write(payload[i:i + 50_000])
        await writer.drain()
    writer.write_eof()
    echoed = await reader.read()
    assert echoed == payload, (len(echoed), len(payload))
    writer.close()
    await writer.wait_closed()
    print("ok", len(echoed))
asyncio.run(asyncio.wait_for(main(int(sys.argv[1])), 8))
"#;

const SERVER: &str = r#"
import asyncio
async def handle(reader, writer):
    data = await reader.read()
    writer.write(b"len=%d;" % len(data))
    writer.write(data[::-1])
    await writer.drain()
    writer.close()
    await writer.wait_closed()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

async fn echo(reader: StreamReader, writer: StreamWriter) {
    loop {
        let data = match reader.read(65536).await {
            Ok(data) if !data.is_empty() => data,
            _ => break,
        };
        writer.write(&data);
        if writer.drain().await.is_err() {
            return;
        }
    }
    writer.close();
}

#[aio::test(timeout = 10)]
async fn python_client_against_aio_echo_server() -> Result<(), Error> {
    if !python_available() {
        return Ok(());
    }
    let server = start_server(echo, "127.0.0.1", 0).await?;
    let port = server.port().unwrap().to_string();
    let output = to_thread(move || {
        Command::new("python3")
            .args(["-c", CLIENT, &port])
            .stdin(Stdio::null())
            .output()
    })
    .await??;
    assert!(
        output.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok 300000");
    server.close();
    server.wait_closed().await;
    Ok(())
}

#[aio::test(timeout = 10)]
async fn aio_client_against_python_server() -> Result<(), Error> {
    if !python_available() {
        return Ok(());
    }
    // Start the server and read the port it prints (blocking, so on a thread).
    let (child, port) = to_thread(|| -> std::io::Result<(Reap, u16)> {
        let mut child = Reap(
            Command::new("python3")
                .args(["-c", SERVER])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()?,
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line)?;
        let port = line.trim().parse().map_err(std::io::Error::other)?;
        Ok((child, port))
    })
    .await??;

    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    let payload: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    for chunk in payload.chunks(70_000) {
        writer.write(chunk);
        writer.drain().await?;
    }
    writer.write_eof();
    let answer = reader.read_to_end().await?;
    let mut expected = format!("len={};", payload.len()).into_bytes();
    expected.extend(payload.iter().rev());
    assert!(
        answer == expected,
        "answer differs ({} bytes)",
        answer.len()
    );
    writer.close();
    writer.wait_closed().await?;
    drop(child);
    Ok(())
}
