//! The `minke` command.

fn main() {
    println!("minke {}", env!("CARGO_PKG_VERSION"));
}
