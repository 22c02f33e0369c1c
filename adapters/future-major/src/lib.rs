//! TEST ONLY. Built against `datacollect:external-sync@2.0.0`, which this host does not
//! provide: the registry must refuse it, naming the import it cannot satisfy.

wit_bindgen::generate!({
    inline: r#"
        package datacollect:external-sync@2.0.0;
        interface log { log: func(message: string); }
        interface adapter { describe: func() -> string; }
        world adapter-world { import log; export adapter; }
    "#,
    generate_all,
});

struct FutureMajor;

impl exports::datacollect::external_sync::adapter::Guest for FutureMajor {
    fn describe() -> String {
        datacollect::external_sync::log::log("describing");
        "future-major".into()
    }
}

export!(FutureMajor);
