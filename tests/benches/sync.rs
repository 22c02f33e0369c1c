//! `make bench` (`QUICK=1` for a small run): see `datacollect_sync_e2e::bench`.

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(datacollect_sync_e2e::bench::run(quick));
}
