#[aio::test(reactor = "kqueue")]
async fn on_kqueue() {}

fn main() {}
