#[aio::test(virtual_time)]
async fn an_hour_in_a_millisecond() {
    aio::sleep(3600).await.unwrap();
}

fn main() {}
