//! Parlor's load generator (see issue 4): speaks the wire protocol through `app::protocol`.

fn main() {
    println!("the load generator is not built yet; see bench/README.md");
}
