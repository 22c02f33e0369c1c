//! `log`: adapter log lines into `tracing`, tagged with the adapter, scrubbed of secrets,
//! truncated and rate-limited per call.

use crate::HostState;
use dcsync_contract::wit::log::{Host, Level};

const MAX_LINE: usize = 4096;

impl Host for HostState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.call.hostcall()?;
        if self.call.log_lines_left == 0 {
            // Counted per call; the sync layer reports it (run history, metrics).
            self.call.logs_dropped += 1;
            return Ok(());
        }
        self.call.log_lines_left -= 1;
        let mut line = message;
        for (k, v) in fields.iter().take(32) {
            line.push_str(&format!(" {k}={v}"));
        }
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let line = dcsync_contract::text::neutralise(&self.call.secrets.scrub(&line));
        let adapter = self.call.adapter_type.as_str();
        let config = self.call.config_id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "adapter", adapter, config, "{line}"),
            Level::Debug => tracing::debug!(target: "adapter", adapter, config, "{line}"),
            Level::Info => tracing::info!(target: "adapter", adapter, config, "{line}"),
            Level::Warn => tracing::warn!(target: "adapter", adapter, config, "{line}"),
            Level::Error => tracing::error!(target: "adapter", adapter, config, "{line}"),
        }
        Ok(())
    }
}
