//! Hooks: DDL options and table rewrites (ProcessUtility: utility.rs, alter.rs), column
//! drops (object access), refusing unsupported DML early (post parse analysis), and the
//! paths of mergetree relations (planner).

mod alter;
mod analyze;
mod ddl;
mod object_access;
mod planner;
mod utility;

pub fn init() {
    // SAFETY: chaining hooks from _PG_init, once per backend.
    unsafe {
        utility::install();
        analyze::install();
        planner::install();
        object_access::install();
    }
}

