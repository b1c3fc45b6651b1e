//! A shell pipeline built by hand from two subprocesses, as one would in asyncio with two
//! `create_subprocess_exec` calls: `seq 1 200000` writes to a pipe, this program reads that
//! pipe 64 KiB at a time and writes each chunk to the stdin of `grep -c 7` (waiting on
//! `drain()` so a slow consumer holds the producer back), closes grep's stdin at the
//! producer's end of file, and reads grep's count. Then it runs the same pipeline through
//! `create_subprocess_shell("seq 1 200000 | grep -c 7")` and checks both give the same
//! answer.
//!
//! ```text
//! cargo run --release --example subprocess_pipeline
//! ```
//!
//! Output (pids and the number of chunks vary; 81902 of the numbers 1..=200000 contain a 7):
//!
//! ```text
//! seq 1 200000 (pid 4242) | grep -c 7 (pid 4243)
//! pumped 1288895 bytes in 52 chunks
//! by hand: 81902 (seq exited with 0, grep exited with 0)
//! shell:   81902 (exited with 0)
//! both agree
//! ```

use aio::subprocess::PIPE;
use aio::{StreamReader, StreamWriter};

const LAST: u32 = 200_000;
const CHUNK: usize = 64 * 1024;

/// Copies `from` into `to` until end of file, then closes `to` (the consumer sees end of
/// file too). Returns the number of bytes and of chunks copied.
async fn pump(from: StreamReader, to: StreamWriter) -> Result<(usize, usize), aio::Error> {
    let (mut bytes, mut chunks) = (0, 0);
    loop {
        // At most CHUNK bytes, whatever the pipe has now; empty only at end of file.
        let chunk = from.read(CHUNK).await?;
        if chunk.is_empty() {
            break;
        }
        bytes += chunk.len();
        chunks += 1;
        to.write(&chunk);
        // Flow control: wait until the consumer's pipe has taken most of it.
        to.drain().await?;
    }
    to.close();
    to.wait_closed().await?;
    Ok((bytes, chunks))
}

/// `seq 1 LAST | grep -c 7`, with this program as the `|`.
async fn by_hand() -> Result<u64, aio::Error> {
    let last = LAST.to_string();
    let mut producer = aio::create_subprocess_exec("seq", ["1", last.as_str()])
        .stdout(PIPE)
        .await?;
    let mut consumer = aio::create_subprocess_exec("grep", ["-c", "7"])
        .stdin(PIPE)
        .stdout(PIPE)
        .await?;
    println!(
        "seq 1 {LAST} (pid {}) | grep -c 7 (pid {})",
        producer.pid(),
        consumer.pid()
    );

    // The pump runs as a task of its own while this one collects the consumer's output: a
    // consumer that wrote a lot (`grep 7` without `-c`) could otherwise fill its stdout pipe
    // and stop reading its stdin, and the pump's `drain` would wait forever.
    let (from, to) = (producer.stdout.take(), consumer.stdin.take());
    let pump = aio::create_task(pump(
        from.expect("stdout was piped"),
        to.expect("stdin was piped"),
    ))?;
    // With its stdin taken, `communicate` only reads stdout to the end and waits for grep.
    let (out, _) = consumer.communicate(None).await?;
    let (bytes, chunks) = pump.await??;
    println!("pumped {bytes} bytes in {chunks} chunks");

    let seq_code = producer.wait().await?;
    let grep_code = consumer.wait().await?;
    let count = parse_count(&out.unwrap_or_default());
    println!("by hand: {count} (seq exited with {seq_code}, grep exited with {grep_code})");
    Ok(count)
}

/// The same pipeline, with `/bin/sh` making the pipe.
async fn through_the_shell() -> Result<u64, aio::Error> {
    let mut proc = aio::create_subprocess_shell(format!("seq 1 {LAST} | grep -c 7"))
        .stdout(PIPE)
        .await?;
    let (out, _) = proc.communicate(None).await?;
    let code = proc.wait().await?;
    let count = parse_count(&out.unwrap_or_default());
    println!("shell:   {count} (exited with {code})");
    Ok(count)
}

/// grep's `-c` output: one number and a newline.
fn parse_count(out: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(out);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("grep -c printed {text:?}, not a count"))
}

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let by_hand = by_hand().await?;
    let shell = through_the_shell().await?;
    assert_eq!(by_hand, shell, "the two pipelines disagree");
    println!("both agree");
    Ok(())
}
