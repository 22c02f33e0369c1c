//! Turning a wasmtime failure into a typed [`CallError`]: a breach our limiter or a host
//! import recorded names its limit; wasmtime's own traps (fuel, epoch) are matched by
//! their trap code, never by message text.

use crate::CallError;
use dcsync_contract::limits::{Limit, LimitBreach};
use wasmtime::Trap;

/// Classify `e`. `recorded` is the breach the call's limiter saw, if any; `setup` says
/// whether the failure came before the adapter ran (instantiation).
pub(crate) fn classify(e: wasmtime::Error, recorded: Option<Limit>, setup: bool) -> CallError {
    if let Some(b) = e.chain().find_map(|c| c.downcast_ref::<LimitBreach>()) {
        return CallError::Limit(b.0);
    }
    if e.chain()
        .any(|c| c.downcast_ref::<dcsync_host::SecretEchoed>().is_some())
    {
        return CallError::SecretEchoed;
    }
    if let Some(limit) = recorded {
        return CallError::Limit(limit);
    }
    match e.chain().find_map(|c| c.downcast_ref::<Trap>()).copied() {
        Some(Trap::OutOfFuel) => return CallError::Limit(Limit::Fuel),
        Some(Trap::Interrupt) => return CallError::Limit(Limit::Deadline),
        Some(Trap::StackOverflow) => {
            return CallError::Trap("stack overflow (unbounded recursion?)".into())
        }
        _ => {}
    }
    if setup {
        return CallError::Setup(format!("{e:#}"));
    }
    // The root cause says what happened ("wasm `unreachable` instruction executed");
    // the wasm backtrace above it is noise for a user.
    CallError::Trap(e.root_cause().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_breach_names_its_limit() {
        let e = wasmtime::Error::msg("some wasmtime text that mentions nothing");
        assert_eq!(
            classify(e, Some(Limit::Memory), false),
            CallError::Limit(Limit::Memory)
        );
    }

    #[test]
    fn a_breach_raised_by_a_host_import_names_its_limit() {
        let e: wasmtime::Error = LimitBreach(Limit::Hostcalls).into();
        let e = e.context("while calling http.send");
        assert_eq!(classify(e, None, false), CallError::Limit(Limit::Hostcalls));
    }

    #[test]
    fn fuel_and_epoch_traps_are_limits() {
        let fuel: wasmtime::Error = Trap::OutOfFuel.into();
        assert_eq!(classify(fuel, None, false), CallError::Limit(Limit::Fuel));
        let epoch: wasmtime::Error = Trap::Interrupt.into();
        assert_eq!(
            classify(epoch, None, false),
            CallError::Limit(Limit::Deadline)
        );
    }

    #[test]
    fn other_traps_keep_their_root_cause_and_setup_failures_are_setup() {
        let e: wasmtime::Error = Trap::UnreachableCodeReached.into();
        assert!(matches!(classify(e, None, false), CallError::Trap(_)));
        let e = wasmtime::Error::msg("pool exhausted");
        assert!(matches!(classify(e, None, true), CallError::Setup(m) if m.contains("pool")));
    }

    #[test]
    fn a_stack_overflow_is_a_trap_that_suggests_unbounded_recursion_even_during_setup() {
        let says_recursion = CallError::Trap("stack overflow (unbounded recursion?)".into());
        let e: wasmtime::Error = Trap::StackOverflow.into();
        assert_eq!(classify(e, None, false), says_recursion);
        // A start function that recurses forever overflows while instantiating: still the
        // adapter's fault, not the host's.
        let e: wasmtime::Error = Trap::StackOverflow.into();
        assert_eq!(classify(e, None, true), says_recursion);
    }
}
