#![forbid(unsafe_code)]

/// jemalloc instead of glibc's malloc: glibc keeps an arena per busy thread (Tokio workers, each
/// SQLite connection's thread) and seldom gives their freed pages back, so one burst of large
/// webhook bodies stayed in the server's memory for good (+35 MiB after 10,000 alerts).
/// jemalloc's background thread returns pages unused for 250 ms to the system
/// (`.cargo/config.toml` sets the options when jemalloc is built). jemalloc is also `malloc` for
/// the C code (SQLite), so its memory follows the same rules.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Best effort: without the background thread, pages are still returned, only later (on
    // the next allocations).
    let _ = tikv_jemalloc_ctl::max_background_threads::write(1);
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    incident_mcp::cli::main()
}

#[cfg(test)]
mod tests {
    /// The options set in `.cargo/config.toml` reached jemalloc's build (a cached build of
    /// tikv-jemalloc-sys without them would keep the 10 s decay and the 32 KiB thread cache).
    #[test]
    fn jemalloc_is_built_with_the_servers_memory_options() {
        let conf = tikv_jemalloc_ctl::config::malloc_conf::read().expect("jemalloc's malloc_conf");
        for option in ["dirty_decay_ms:250", "tcache_max:4096", "narenas:1"] {
            assert!(
                conf.trim_end_matches('\0').split(',').any(|o| o == option),
                "{option} missing from {conf:?}"
            );
        }
        // One arena, plus the one jemalloc keeps for huge allocations (the default: 4 per CPU + 1).
        let arenas = tikv_jemalloc_ctl::arenas::narenas::read().expect("arenas.narenas");
        assert!(arenas <= 2, "{arenas} arenas");
    }
}
