#[aio::test]
async fn takes_a_loop(lp: aio::EventLoop) {
    let _ = lp;
}

fn main() {}
