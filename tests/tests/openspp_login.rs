//! The openspp-adapter component logging in to an emulated OpenSPP 17: once per run, the
//! login cooldown, the group check, credentials, and checks before any sync.

use datacollect_sync_e2e::openspp::*;
use datacollect_sync_e2e::*;
use serde_json::json;

#[tokio::test]
async fn a_run_logs_in_once_whatever_its_batches_and_pages() {
    let e = openspp().await;
    for i in 0..5 {
        e.create(
            "res.partner",
            json!({"name": format!("R{i}"), "is_registrant": true}),
        );
    }
    let (store, _dir) = temp_store();
    append(&store, &local_events("l", 5));
    let r = sync_as(&e, &store, USER, &[("batchSize", "2")])
        .await
        .unwrap();
    assert_eq!(r.pushed, 5);
    assert!(r.pull_pages >= 3, "{} pages", r.pull_pages);
    assert_eq!(e.calls("common.authenticate"), 1);
    sync_as(&e, &store, USER, &[("batchSize", "2")])
        .await
        .unwrap();
    assert_eq!(e.calls("common.authenticate"), 2, "once per run");
}

#[tokio::test]
async fn after_five_failed_logins_odoo_refuses_every_login_for_a_while_and_the_sync_does_not_prolong_it(
) {
    let cooldown = std::time::Duration::from_secs(4);
    let e = openspp().await;
    e.set_login_cooldown(5, cooldown);
    registry(); // loaded before the clock runs: the first load compiles every adapter
    for _ in 0..5 {
        let (_, r) = rpc(&e, "common", "authenticate", json!([DB, USER, "guess", {}])).await;
        assert_eq!(r["result"], false);
    }
    let failed_at = std::time::Instant::now();
    let (store, _dir) = temp_store();
    append(&store, &local_events("c", 1));
    tokio::time::sleep(cooldown / 2).await;
    let err = sync_as(&e, &store, USER, &[]).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(err.to_string().contains("after 5 failed logins"), "{err}");
    assert_eq!(e.calls("common.authenticate"), 6, "one login, no retry");
    // On `execute_kw` the cooldown has its own words.
    let (_, r) = rpc(
        &e,
        "object",
        "execute_kw",
        json!([DB, 2, "admin", "res.partner", "search", [[]]]),
    )
    .await;
    assert_eq!(r["error"]["data"]["name"], "odoo.exceptions.AccessDenied");
    assert_eq!(
        r["error"]["data"]["message"],
        "Too many login failures, please wait a bit before trying again."
    );

    // Attempts refused during the cooldown are not counted: it ends 4 s after the fifth
    // failure, not after the sync's attempt.
    tokio::time::sleep(
        (failed_at + cooldown + std::time::Duration::from_millis(300)) - std::time::Instant::now(),
    )
    .await;
    assert_eq!(sync_as(&e, &store, USER, &[]).await.unwrap().pushed, 1);
}

#[tokio::test]
async fn registrar_group_is_checked_with_has_group_and_validated_before_any_sync() {
    let e = openspp().await;
    let group = ("registrarGroup", "g2p_registry_base.group_g2p_registrar");
    let (store, _dir) = temp_store();
    append(&store, &local_events("g", 1));
    assert_eq!(sync_as(&e, &store, USER, &[group]).await.unwrap().pushed, 1);
    let viewer = read_only_user(&e);
    let err = sync_as(&e, &temp_store().0, viewer, &[group])
        .await
        .unwrap_err();
    assert_eq!(err.class().as_str(), "config");
    assert!(
        err.to_string()
            .contains("is not in group \"g2p_registry_base.group_g2p_registrar\""),
        "{err}"
    );

    let adapter = registry().get("openspp-adapter").unwrap();
    let view = |extra: &[(&str, &str)]| datacollect_sync::adapter::AdapterConfigView {
        id: "c".into(),
        adapter_type: "openspp-adapter".into(),
        url: e.url(),
        auth: None,
        extra_fields: extra
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        secret_names: Vec::new(),
    };
    let problems = adapter
        .validate(&view(&[
            ("database", "openspp"),
            ("username", "u"),
            ("registrarGroup", "g2p.group.registrar"),
            (
                "opensppAdapterOptions",
                "{\"individual\": {\"fieldMap\": 3}}",
            ),
        ]))
        .await
        .unwrap();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "extraFields.password",
            "extraFields.registrarGroup",
            "extraFields.opensppAdapterOptions"
        ],
        "{problems:?}"
    );
    assert!(problems[1]
        .message
        .contains("g2p_registry_base.group_g2p_registrar"));
    assert!(
        problems[2]
            .message
            .contains("individual.fieldMap: must be an object"),
        "{problems:?}"
    );
    let none = adapter
        .validate(&view(&[("database", "openspp")]))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_not_retried() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(&store, &local_events("w", 1));
    let m = manager_with_settings(
        &store,
        openspp_config(&e, USER, "not-the-password", &[]),
        &approved(),
    )
    .await;
    let err = m.synchronize(None).await.unwrap_err();
    assert_eq!(err.class().as_str(), "unauthorized");
    assert!(
        err.to_string()
            .contains("refused the login on database \"openspp\""),
        "{err}"
    );
    assert_eq!(e.state.lock().unwrap().rpc_calls, 1);
}

#[tokio::test]
async fn credentials_given_to_the_sync_and_api_keys_are_used_for_the_login() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(&store, &local_events("c", 1));
    let m = manager_with_settings(
        &store,
        openspp_config(&e, USER, "stale-password", &[]),
        &approved(),
    )
    .await;
    let creds = datacollect_sync::Credentials::new(USER, PASSWORD);
    assert_eq!(m.synchronize(Some(creds)).await.unwrap().pushed, 1);
    e.add_api_key(USER, "api-KEY-0123456789abcdef");
    append(&store, &local_events("k", 1));
    let m = manager_with_settings(
        &store,
        openspp_config(&e, USER, "api-KEY-0123456789abcdef", &[]),
        &approved(),
    )
    .await;
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 1);
}

#[tokio::test]
async fn without_the_operators_approval_the_password_never_goes_into_a_body() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(
        &store,
        &[event("g1", "p1", "create-individual", json!({"name": "A"}))],
    );
    let m = manager(&store, openspp_config(&e, USER, PASSWORD, &[])).await;
    let err = m.synchronize(None).await.unwrap_err();
    assert!(err.to_string().contains("approve_placements"), "{err}");
    assert_eq!(err.class().as_str(), "config");
    assert!(e.all("res.partner").is_empty(), "nothing reached OpenSPP");
}

#[tokio::test]
async fn the_connection_check_logs_in_and_looks_for_the_id_type_without_writing() {
    let e = openspp_without_id_type().await;
    let ok = check_connection(&e, USER, PASSWORD).await.unwrap().unwrap();
    let datacollect_sync::adapter::ConnectionCheck::Ok(text) = ok else {
        panic!("{ok:?}")
    };
    assert!(text.contains("logged in to database \"openspp\""), "{text}");
    assert!(
        text.contains("ID type \"DataCollect ID\" does not exist yet"),
        "{text}"
    );
    assert!(id_type(&e).is_none(), "the check created nothing");
    e.create("g2p.id.type", json!({"name": ID_TYPE}));
    let ok = check_connection(&e, USER, PASSWORD).await.unwrap().unwrap();
    let datacollect_sync::adapter::ConnectionCheck::Ok(text) = ok else {
        panic!("{ok:?}")
    };
    assert!(text.contains("ID type \"DataCollect ID\" is id"), "{text}");

    let err = check_connection(&e, USER, "wrong-password")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            datacollect_sync::engine::CallError::Adapter(
                datacollect_sync::adapter::AdapterError::Unauthorized(_)
            )
        ),
        "{err:?}"
    );
    let viewer = read_only_user(&e);
    let err = check_connection(&e, viewer, PASSWORD).await.unwrap_err();
    assert!(
        err.to_string().contains("may not read g2p.id.type"),
        "{err}"
    );
}
