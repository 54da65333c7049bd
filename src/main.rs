//! The `execbox` binary: everything is in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    execbox::cli::main().await
}
