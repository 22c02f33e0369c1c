//! The OpenFn emulator answers as Lightning's source says (citations in
//! `src/openfn/`): what a client sees for each kind of request.

use dcsync_emulators::openfn::{OpenFnEmulator, OpenFnSetup, DEFAULT_PROJECT};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

const KEY: &str = "k-123456";
const TOKEN: &str = "tok-abcdef";

async fn lightning() -> (OpenFnEmulator, reqwest::Client) {
    let e = OpenFnEmulator::start(
        "127.0.0.1:0".parse().unwrap(),
        OpenFnSetup {
            webhook_id: "trig".into(),
            api_key: Some(KEY.into()),
            collections_token: TOKEN.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (e, reqwest::Client::new())
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, String) {
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_body_is_parsed_before_the_trigger_is_looked_up() {
    let (e, c) = lightning().await;
    let bad = |url: String| {
        c.post(url)
            .header(CONTENT_TYPE, "application/json")
            .body("{not json")
    };
    // Malformed JSON to an unknown trigger: 400, not 404; plain text unless the client
    // asks for JSON only.
    let unknown = format!("{}/i/no-such", e.base_url());
    assert_eq!(
        answer(bad(unknown.clone())).await,
        (400, "Bad Request".into())
    );
    assert_eq!(
        answer(bad(unknown.clone()).header(ACCEPT, "application/json, */*")).await,
        (400, "Bad Request".into()),
        "axios's Accept holds */*"
    );
    assert_eq!(
        answer(bad(unknown).header(ACCEPT, "application/json")).await,
        (400, json!({"error": "Bad Request"}).to_string())
    );
    // Over the dataclip limit: 413.
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(10_000_001));
    let (status, _) = answer(
        c.post(e.webhook_url())
            .header(CONTENT_TYPE, "application/json")
            .body(big),
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn authentication_answers_401_without_credentials_and_404_with_wrong_ones() {
    let (e, c) = lightning().await;
    let post = || {
        c.post(e.webhook_url())
            .header(CONTENT_TYPE, "application/json")
            .body("{}")
    };
    assert_eq!(
        answer(post()).await,
        (401, json!({"error": "Unauthorized"}).to_string())
    );
    assert_eq!(
        answer(post().header("x-api-key", "wrong")).await,
        (404, json!({"error": "Webhook not found"}).to_string())
    );
    let (status, body) = answer(post().header("x-api-key", KEY)).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["work_order_id"].is_string());
    assert!(body.get("run_id").is_none(), "the run id is only a header");
}

#[tokio::test]
async fn content_types_no_parser_takes_are_415_after_authentication() {
    let (e, c) = lightning().await;
    let (status, body) = answer(
        c.post(e.webhook_url())
            .header("x-api-key", KEY)
            .header(CONTENT_TYPE, "text/plain")
            .body("hello"),
    )
    .await;
    assert_eq!(
        (status, body),
        (415, json!({"error": "Unsupported Media Type"}).to_string())
    );
    // No content type at all: accepted, the dataclip is `{}`.
    let (status, _) = answer(
        c.post(e.webhook_url())
            .header("x-api-key", KEY)
            .body("ignored"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(e.work_orders().last().unwrap().body, json!({}));
    // Non-objects are wrapped; a top-level `configuration` is dropped.
    for (sent, stored) in [
        ("[1,2]", json!({"_json": [1, 2]})),
        (
            r#"{"a": 1, "configuration": {"secret": "x"}}"#,
            json!({"a": 1}),
        ),
    ] {
        let (status, _) = answer(
            c.post(e.webhook_url())
                .header("x-api-key", KEY)
                .header(CONTENT_TYPE, "application/json")
                .body(sent),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(e.work_orders().last().unwrap().body, stored);
    }
}

#[tokio::test]
async fn get_on_a_trigger_checks_it_without_creating_anything() {
    let (e, c) = lightning().await;
    let (status, body) = answer(c.get(e.webhook_url()).header("x-api-key", KEY)).await;
    assert_eq!(status, 200);
    assert!(body.contains("OpenFn webhook trigger found"), "{body}");
    assert!(e.work_orders().is_empty());
    let (status, _) = answer(
        c.get(e.webhook_url())
            .header("x-api-key", KEY)
            .header(ACCEPT, "text/html"),
    )
    .await;
    assert_eq!(status, 406);
}

#[tokio::test]
async fn collections_page_by_item_id_with_strict_parameters() {
    let (e, c) = lightning().await;
    for k in ["a", "b", "c"] {
        e.put_item("regs", k, "{}");
    }
    e.put_item("regs", "a", "{\"v\": 2}");
    let get = |q: &str| {
        c.get(format!("{}/collections/regs?{q}", e.base_url()))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
    };
    let (status, body) = answer(get("limit=2")).await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a", "b"], "an update keeps the item's place");
    let cursor = page["cursor"].as_str().unwrap();
    assert_eq!(cursor, "Mg==", "base64 of the last id");
    let updated = page["items"][0]["updated"].as_str().unwrap().to_string();
    assert_eq!(updated.len(), "2025-01-01T00:00:00.000000Z".len(), "µs, Z");
    let (_, body) = answer(get(&format!("limit=2&cursor={cursor}"))).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["cursor"],
        Value::Null,
        "no cursor when nothing remains"
    );
    // updated_after is inclusive.
    let (_, body) = answer(get(&format!(
        "updated_after={}",
        updated.replace('+', "%2B")
    )))
    .await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"][0]["key"], "a");
    for q in [
        "since=x",
        "limit=ten",
        "cursor=%21%21",
        "updated_after=2025-01-01",
        "project_id=nope",
    ] {
        assert_eq!(answer(get(q)).await.0, 400, "{q}");
    }
    let (status, _) = answer(
        c.get(format!("{}/collections/regs", e.base_url()))
            .header(AUTHORIZATION, "Bearer wrong"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn collection_items_are_strings_and_missing_keys_are_204() {
    let (e, c) = lightning().await;
    e.create_collection(DEFAULT_PROJECT, "regs");
    let url = |k: &str| format!("{}/collections/regs/{k}", e.base_url());
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = answer(c.get(url("none")).header(AUTHORIZATION, &auth)).await;
    assert_eq!((status, body), (204, String::new()));
    let (status, body) = answer(
        c.put(url("k"))
            .header(AUTHORIZATION, &auth)
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"value": {"not": "a string"}}"#),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"upserted": 0, "error": "Format error"}).to_string()
        )
    );
    let (status, body) = answer(
        c.post(format!("{}/collections/regs", e.base_url()))
            .header(AUTHORIZATION, &auth)
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"items": [{"key": "x", "value": "1"}, {"key": "x", "value": "2"}]}"#),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"upserted": 0, "error": "Duplicate key found"}).to_string()
        )
    );
}
