#[aio::main]
fn main() {}
