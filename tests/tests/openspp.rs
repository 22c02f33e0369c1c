//! The openspp-adapter component pushing to an emulated stock OpenSPP 17: what it writes,
//! and what it does when OpenSPP refuses (`openspp_pull.rs`: the pull; `openspp_login.rs`: logins and checks). Over 400 lines:
//! one responsibility, one test per behaviour.

use datacollect_sync_e2e::openspp::*;
use datacollect_sync_e2e::*;
use dcsync_emulators::openspp::OdooError;
use dcsync_emulators::Fault;
use serde_json::{json, Value};

/// The operator's mapping is what gets written: a `fieldMap` naming other DataCollect
/// fields for the original's names, and `odooFields` adding a stock field the adapter does
/// not map by itself.
#[tokio::test]
async fn an_operators_field_map_and_odoo_fields_are_what_is_written() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(
        &store,
        &[event(
            "m1",
            "pm1",
            "create-individual",
            json!({"given": "Amina", "surname": "Yusuf", "first_name": "Wrong",
                   "placeOfBirth": "Mwanza"}),
        )],
    );
    let options = r#"{"individual": {"fieldMap": {"firstName": "given", "lastName": "surname"},
                                     "odooFields": {"birth_place": "placeOfBirth"}}}"#;
    let report = sync_as(&e, &store, USER, &[("opensppAdapterOptions", options)])
        .await
        .unwrap();
    assert_eq!(report.pushed, 1);
    let p = partner_of(&e, "pm1").expect("written");
    assert_eq!(p["given_name"], json!("Amina"));
    assert_eq!(p["family_name"], json!("Yusuf"));
    assert_eq!(p["birth_place"], json!("Mwanza"));
}

#[tokio::test]
async fn push_writes_registrants_as_the_original_adapter_did_with_the_guid_as_a_registrant_id() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(
        &store,
        &[
            event(
                "e1",
                "p1",
                "create-individual",
                json!({
            "first_name": "Amina", "last_name": "Yusuf", "middle_name": "K", "name": "Amina K. Yusuf",
            "gender": "female", "date_of_birth": "1990-05-01", "email_address": "amina@example.org",
            "phone_number": "+255700000001"}),
            ),
            event(
                "e2",
                "p2",
                "create-individual",
                json!({"first_name": "Kofi", "last_name": "Mensah", "gender": "MALE"}),
            ),
            event(
                "e3",
                "g1",
                "create-group",
                json!({"name": "Household 1", "members": [{"guid": "p1"}, {"guid": "p2"}]}),
            ),
        ],
    );
    assert_eq!(sync_as(&e, &store, USER, &[]).await.unwrap().pushed, 3);

    let p1 = partner_of(&e, "p1").expect("p1 carries its guid as a DataCollect ID");
    for (field, want) in [
        ("given_name", json!("Amina")),
        ("family_name", json!("Yusuf")),
        ("addl_name", json!("K")),
        ("name", json!("Amina K. Yusuf")),
        ("gender", json!("Female")),
        ("birthdate", json!("1990-05-01")),
        ("email", json!("amina@example.org")),
        ("phone", json!("+255700000001")),
        ("is_registrant", json!(true)),
        ("is_group", json!(false)),
    ] {
        assert_eq!(p1[field], want, "{field}");
    }
    let p2 = partner_of(&e, "p2").unwrap();
    assert_eq!(
        (p2["name"].clone(), p2["gender"].clone()),
        (json!("Kofi Mensah"), json!("Male"))
    );
    let g1 = partner_of(&e, "g1").unwrap();
    assert_eq!(
        (g1["is_group"].clone(), g1["kind"].clone()),
        (json!(true), json!(1)),
        "kind Household"
    );
    let mut members: Vec<(Value, Value)> = e
        .all("g2p.group.membership")
        .iter()
        .map(|m| (m["group"].clone(), m["individual"].clone()))
        .collect();
    members.sort_by_key(|m| m.1.as_i64());
    assert_eq!(
        members,
        vec![
            (g1["id"].clone(), p1["id"].clone()),
            (g1["id"].clone(), p2["id"].clone())
        ]
    );
    let g1 = e.get("res.partner", g1["id"].as_i64().unwrap()).unwrap();
    assert_eq!(
        g1["z_ind_grp_num_individuals"], 2,
        "OpenG2P counts the members"
    );
    assert_eq!(datacollect_ids(&e, p1["id"].as_i64().unwrap()), ["p1"]);

    append(
        &store,
        &[event(
            "e4",
            "p1",
            "update-individual",
            json!({"first_name": "Amina-Y"}),
        )],
    );
    assert_eq!(sync_as(&e, &store, USER, &[]).await.unwrap().pushed, 1);
    assert_eq!(
        e.all("res.partner").len(),
        3,
        "an update writes, never creates"
    );
    let p1 = partner_of(&e, "p1").unwrap();
    assert_eq!(
        (p1["given_name"].clone(), p1["family_name"].clone()),
        (json!("Amina-Y"), json!("Yusuf"))
    );
}

#[tokio::test]
async fn a_stock_server_refuses_custom_fields_in_odoos_own_words() {
    let e = openspp().await;
    let create = as_admin(
        &e,
        "res.partner",
        "create",
        json!([{"name": "A", "x_datacollect_guid": "g1"}]),
        json!({}),
    )
    .await;
    let err = &create["error"];
    assert_eq!(
        (err["code"].clone(), err["message"].clone()),
        (json!(200), json!("Odoo Server Error"))
    );
    assert_eq!(err["data"]["name"], "builtins.ValueError");
    assert_eq!(
        err["data"]["message"],
        "Invalid field 'x_datacollect_guid' on model 'res.partner'"
    );
    assert_eq!(err["data"]["arguments"], json!([err["data"]["message"]]));
    assert!(err["data"]["debug"]
        .as_str()
        .unwrap()
        .contains("ValueError"));
    let search = as_admin(
        &e,
        "res.partner",
        "search_read",
        json!([[["x_datacollect_guid", "=", "g1"]]]),
        json!({"fields": ["x_datacollect_data"]}),
    )
    .await;
    assert_eq!(
        search["error"]["data"]["message"],
        "Invalid field res.partner.x_datacollect_guid in leaf ('x_datacollect_guid', '=', 'g1')",
        "the domain is checked before the fields, with another text"
    );
    let read = as_admin(
        &e,
        "res.partner",
        "search_read",
        json!([[]]),
        json!({"fields": ["x_datacollect_data"]}),
    )
    .await;
    assert_eq!(
        read["error"]["data"]["message"],
        "Invalid field 'x_datacollect_data' on model 'res.partner'"
    );
    let ok = as_admin(
        &e,
        "res.partner",
        "create",
        json!([{"name": "B", "is_group": true, "kind": 1}]),
        json!({}),
    )
    .await;
    let id = ok["result"]
        .as_i64()
        .expect("create of one dict answers an int");
    let row = as_admin(
        &e,
        "res.partner",
        "read",
        json!([[id], ["kind", "write_date"]]),
        json!({}),
    )
    .await;
    assert_eq!(
        row["result"][0]["kind"],
        json!([1, "Household"]),
        "Many2one as [id, name]"
    );
    assert_eq!(
        row["result"][0]["write_date"].as_str().unwrap().len(),
        19,
        "whole seconds"
    );
    let bad = reqwest::Client::new()
        .post(format!("{}/jsonrpc", e.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.text().await.unwrap(), "Invalid JSON data");

    // An operator mapping a field stock OpenSPP lacks gets a config error naming it.
    let (store, _dir) = temp_store();
    append(
        &store,
        &[event(
            "e1",
            "g1",
            "create-group",
            json!({"name": "H", "household_size": 4}),
        )],
    );
    let options = r#"{"household": {"odooFields": {"hh_size": "household_size"}}}"#;
    let err = sync_as(&e, &store, USER, &[("opensppAdapterOptions", options)])
        .await
        .unwrap_err();
    assert_eq!(err.class().as_str(), "config");
    assert!(
        err.to_string()
            .contains("Invalid field 'hh_size' on model 'res.partner'"),
        "{err}"
    );
    assert!(store.quarantine(None).unwrap().is_empty());
}

#[tokio::test]
async fn a_read_only_user_fails_the_run_naming_the_model_and_the_right_and_quarantines_nothing() {
    let e = openspp().await;
    let viewer = read_only_user(&e);
    let (store, _dir) = temp_store();
    append(&store, &local_events("r", 3));
    let err = sync_as(&e, &store, viewer, &[]).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config", "{err}");
    let text = err.to_string();
    assert!(text.contains("may not read g2p.id.type records"), "{text}");
    assert!(
        text.contains("You are not allowed to access 'ID Type' (g2p.id.type) records."),
        "{text}"
    );
    assert!(
        store.quarantine(None).unwrap().is_empty(),
        "no record is to blame"
    );
    assert_eq!(e.all("res.partner").len(), 0);
    let config_id = openspp_config(&e, viewer, PASSWORD, &[]).id;
    assert_eq!(
        store.pending_count(&config_id).unwrap(),
        3,
        "still to push once fixed"
    );
}

#[tokio::test]
async fn the_id_type_is_created_by_an_administrator_and_a_registrar_is_told_to_create_it() {
    let e = openspp_without_id_type().await;
    let (store, _dir) = temp_store();
    append(&store, &local_events("i", 2));
    let err = sync_as(&e, &store, USER, &[]).await.unwrap_err();
    assert_eq!(err.class().as_str(), "config");
    assert!(
        err.to_string()
            .contains("OpenSPP has no ID type \"DataCollect ID\""),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("Create the ID type \"DataCollect ID\""),
        "{err}"
    );
    assert!(store.quarantine(None).unwrap().is_empty());

    let m = manager_with_settings(
        &store,
        openspp_config(&e, ADMIN.0, ADMIN.1, &[("idTypeName", "DataCollect ID")]),
        &approved(),
    )
    .await;
    assert_eq!(m.synchronize(None).await.unwrap().pushed, 2);
    assert!(id_type(&e).is_some(), "created by the administrator's run");
    append(&store, &local_events("j", 1));
    assert_eq!(
        sync_as(&e, &store, USER, &[]).await.unwrap().pushed,
        1,
        "the registrar finds it"
    );
}

#[tokio::test]
async fn a_serialization_failure_is_retried_and_nothing_is_duplicated() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(&store, &local_events("s", 3));
    e.fail_next(
        Some("res.partner.create"),
        OdooError::serialization_failure(),
        1,
    );
    let r = sync_as(&e, &store, USER, &[]).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 1));
    assert_eq!(e.all("res.partner").len(), 3);
    assert_eq!(e.all("g2p.reg.id").len(), 3);
}

#[tokio::test]
async fn a_record_openspp_refuses_is_quarantined_and_the_rest_delivered() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(
        &store,
        &[
            event("ok1", "q1", "create-individual", json!({"name": "Fine"})),
            event(
                "born",
                "q2",
                "create-individual",
                json!({"name": "Unborn", "date_of_birth": "2999-01-01"}),
            ),
            event(
                "noname",
                "q3",
                "create-individual",
                json!({"email_address": "x@example.org"}),
            ),
            event(
                "ok2",
                "q4",
                "create-individual",
                json!({"name": "Also fine"}),
            ),
            event("odd", "q5", "resolve-duplicate", json!({"duplicates": []})),
        ],
    );
    let r = sync_as(&e, &store, USER, &[]).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (2, 3));
    let reasons: Vec<(String, String)> = store
        .quarantine(None)
        .unwrap()
        .into_iter()
        .map(|q| (q.event_guid, q.reason))
        .collect();
    let reason = |g: &str| {
        reasons
            .iter()
            .find(|r| r.0 == g)
            .map(|r| r.1.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("born")
            .contains("ValidationError: Registration date must be later than the birth date."),
        "{reasons:?}"
    );
    assert!(
        reason("noname").contains("Contacts require a name"),
        "{reasons:?}"
    );
    assert!(reason("odd").contains("does not handle"), "{reasons:?}");
    assert_eq!(e.all("res.partner").len(), 2);
}

#[tokio::test]
async fn gender_matches_openspps_values_case_insensitively_and_an_unknown_one_rejects_that_record()
{
    let e = openspp().await;
    let direct = e
        .try_create("res.partner", json!({"name": "X", "gender": "male"}))
        .unwrap_err();
    assert_eq!(
        direct.message, "Wrong value for res.partner.gender: 'male'",
        "the Selection is case-sensitive"
    );
    let (store, _dir) = temp_store();
    append(
        &store,
        &[
            event(
                "a",
                "ga",
                "create-individual",
                json!({"name": "A", "gender": "fEmAlE"}),
            ),
            event(
                "b",
                "gb",
                "create-individual",
                json!({"name": "B", "gender": "other"}),
            ),
            event(
                "c",
                "gc",
                "create-individual",
                json!({"name": "C", "gender": "Male"}),
            ),
        ],
    );
    let r = sync_as(&e, &store, USER, &[]).await.unwrap();
    assert_eq!((r.pushed, r.quarantined), (2, 1));
    assert_eq!(partner_of(&e, "ga").unwrap()["gender"], "Female");
    assert_eq!(partner_of(&e, "gc").unwrap()["gender"], "Male");
    assert!(partner_of(&e, "gb").is_none());
    let q = store.quarantine(None).unwrap();
    assert!(
        q[0].reason
            .contains("gender \"other\" is not one of OpenSPP's genders (Male, Female)"),
        "{}",
        q[0].reason
    );
    assert_eq!(e.calls("gender.type.search_read"), 1, "read once per run");
}

#[tokio::test]
async fn add_member_creates_the_membership_once() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(
        &store,
        &[
            event("g", "h1", "create-group", json!({"name": "H"})),
            event("i", "m1", "create-individual", json!({"name": "M"})),
            event(
                "a1",
                "h1",
                "add-member",
                json!({"members": [{"guid": "m1"}]}),
            ),
            event(
                "a2",
                "h1",
                "add-member",
                json!({"members": [{"guid": "m1"}]}),
            ),
        ],
    );
    assert_eq!(sync_as(&e, &store, USER, &[]).await.unwrap().pushed, 4);
    let ms = e.all("g2p.group.membership");
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["group"], partner_of(&e, "h1").unwrap()["id"]);
    assert_eq!(ms[0]["individual"], partner_of(&e, "m1").unwrap()["id"]);
}

#[tokio::test]
async fn rate_limit_and_server_error_are_retried_without_duplicates() {
    let e = openspp().await;
    let (store, _dir) = temp_store();
    append(&store, &local_events("t", 3));
    e.inject(vec![
        Fault {
            status: Some(429),
            ..Default::default()
        },
        Fault {
            status: Some(502),
            ..Default::default()
        },
    ]);
    let r = sync_as(&e, &store, USER, &[]).await.unwrap();
    assert_eq!((r.pushed, r.retries), (3, 2));
    assert_eq!(e.all("res.partner").len(), 3);
}
