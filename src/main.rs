#![forbid(unsafe_code)]

/// jemalloc instead of glibc's malloc: glibc keeps an arena per busy thread (Tokio workers, each
/// SQLite connection's thread) and seldom gives their freed pages back, so one burst of large
/// webhook bodies stayed in the server's memory for good (+35 MiB after 10,000 alerts).
/// jemalloc's background thread returns pages unused for 10 s to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Best effort: without the background thread, pages are still returned, only later (on
    // the next allocations).
    let _ = tikv_jemalloc_ctl::max_background_threads::write(1);
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    incident_mcp::cli::main()
}
