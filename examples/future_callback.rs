//! The event-loop-and-Future demo from the seed notes: a Future created on the loop, its
//! state before and after `set_result`, and a done callback — which runs through `call_soon`,
//! after `main` has printed everything else, exactly as in asyncio.
//!
//! Output:
//! ```text
//! false
//! false
//! true
//! Result is not set
//! get future result: 111
//! Run future done callback!
//! ```
//!
//! ```text
//! cargo run --release --example future_callback
//! ```

use aio::prelude::*;

#[aio::main]
async fn main() -> Result<(), aio::Error> {
    let lp = aio::get_running_loop()?;
    let future = lp.create_future::<i32>();

    println!("{}", future.done());
    println!("{}", future.cancelled());
    println!("{}", future.get_loop().is_some_and(|l| l.same(&lp)));

    match future.result() {
        Ok(value) => println!("Get future result: {value}"),
        Err(aio::Error::InvalidState(_)) => println!("Result is not set"),
        Err(e) => return Err(e),
    }

    future.add_done_callback(|_| println!("Run future done callback!"));
    future.set_result(111)?;
    match future.result() {
        Ok(value) => println!("get future result: {value}"),
        Err(aio::Error::InvalidState(_)) => println!("Result is not set"),
        Err(e) => return Err(e),
    }
    Ok(())
}
