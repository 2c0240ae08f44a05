//! `wqsim-guest`: the `/init` of the machine `wqsim kernel-check` boots.
//! See `wqsim::qemu::guest`.

#[cfg(target_os = "linux")]
fn main() {
    std::process::exit(wqsim::qemu::guest::main());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("wqsim-guest runs only on Linux");
    std::process::exit(2);
}
