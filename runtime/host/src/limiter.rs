//! The per-call resource limiter: memory and table growth summed over every memory and
//! table of the call (a component may hold many), and the breach it hit, kept typed so
//! the engine reports which limit broke without reading wasmtime's message text.

use dcsync_contract::limits::{Limit, LimitBreach, Limits};

/// Tracks what one call has allocated and refuses growth past its limits.
#[derive(Debug)]
pub struct CallLimiter {
    memory_max: usize,
    memory_used: usize,
    table_max: usize,
    table_used: usize,
    breach: Option<Limit>,
}

impl CallLimiter {
    /// A limiter for one call under `limits`.
    pub fn new(limits: &Limits) -> Self {
        CallLimiter {
            memory_max: limits.memory_bytes,
            memory_used: 0,
            table_max: limits.table_elements,
            table_used: 0,
            breach: None,
        }
    }

    /// The limit the call ran into, if it did.
    pub fn breach(&self) -> Option<Limit> {
        self.breach
    }

    /// Bytes of linear memory the call holds now, over all its memories.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }

    fn refuse(&mut self, limit: Limit) -> wasmtime::Result<bool> {
        self.breach.get_or_insert(limit);
        Err(LimitBreach(limit).into())
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_max {
            return self.refuse(Limit::Memory);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_used - current.min(self.table_used) + desired;
        if total > self.table_max {
            return self.refuse(Limit::Tables);
        }
        self.table_used = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Core instances one call may create. Components built by componentize-py hold several
/// core instances; see adapters/README.md for what the shipped runtimes need.
pub const MAX_INSTANCES: usize = 64;
/// Tables one call may create.
pub const MAX_TABLES: usize = 64;
/// Linear memories one call may create.
pub const MAX_MEMORIES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_is_limited_across_memories_not_per_memory() {
        let mut l = CallLimiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 60, None).unwrap(), "first memory");
        let err = l.memory_growing(0, 60, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<LimitBreach>(),
            Some(LimitBreach(Limit::Memory))
        ));
        assert_eq!(l.breach(), Some(Limit::Memory));
        assert_eq!(l.memory_used(), 60);
    }

    #[test]
    fn growth_counts_only_the_difference() {
        let mut l = CallLimiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 40, None).unwrap());
        assert!(l.memory_growing(40, 90, None).unwrap());
        assert_eq!(l.memory_used(), 90);
        assert!(l.memory_growing(90, 101, None).is_err());
    }

    #[test]
    fn tables_are_limited_in_total() {
        let mut l = CallLimiter::new(&Limits {
            table_elements: 10,
            ..Limits::default()
        });
        assert!(l.table_growing(0, 6, None).unwrap());
        assert!(l.table_growing(0, 6, None).is_err());
        assert_eq!(l.breach(), Some(Limit::Tables));
    }

    #[test]
    fn memory_may_grow_to_exactly_its_limit() {
        let mut l = CallLimiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 100, None).unwrap(), "the limit itself");
        assert_eq!(l.memory_used(), 100);
        assert_eq!(l.breach(), None);
        assert!(
            l.memory_growing(100, 101, None).is_err(),
            "one byte past it"
        );
    }

    #[test]
    fn a_table_may_grow_to_exactly_its_limit() {
        let mut l = CallLimiter::new(&Limits {
            table_elements: 10,
            ..Limits::default()
        });
        assert!(l.table_growing(0, 10, None).unwrap(), "the limit itself");
        assert_eq!(l.breach(), None);
        assert!(
            l.table_growing(10, 11, None).is_err(),
            "one element past it"
        );
    }

    #[test]
    fn table_growth_counts_only_the_difference() {
        let mut l = CallLimiter::new(&Limits {
            table_elements: 10,
            ..Limits::default()
        });
        assert!(l.table_growing(0, 4, None).unwrap());
        // The same table growing from 4 to 8 holds 8 elements, not 4 + 8.
        assert!(l.table_growing(4, 8, None).unwrap());
        assert!(l.table_growing(8, 10, None).unwrap());
        assert_eq!(l.breach(), None);
    }
}
