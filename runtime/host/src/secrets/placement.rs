//! Where a secret may be filled in: the adapter's declared placements (its 1.1
//! `manifest`), the operator's approvals, and the host's fixed rules. One function
//! decides, for every slot a reference was found in.

use dcsync_contract::adapter::{Manifest, Placement};
use std::collections::BTreeMap;

/// Where in a request a reference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot<'a> {
    /// The value of the header `name` (lower-case); `bearer` when the whole value is
    /// `Bearer <reference>`.
    Header {
        /// The header's name, lower-cased.
        name: &'a str,
        /// The value is exactly `Bearer ` and the reference.
        bearer: bool,
    },
    /// The username or password of basic auth.
    BasicAuth,
    /// A JSON body to `path`, as the whole string at `pointer`.
    JsonBody {
        /// The request's path.
        path: &'a str,
        /// Where in the JSON the reference is.
        pointer: &'a str,
    },
}

/// Why a secret may not go where the adapter put it. The text names the secret and the
/// kind of place, never the request itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request goes to another origin than the config's, and the operator did not
    /// allow this secret there.
    #[error("secret `{0}` may go only to the config's own origin (the operator has not allowed it elsewhere)")]
    Origin(String),
    /// Not among the secret's declared placements.
    #[error("secret `{0}` may not be placed in {1} (not among its declared placements)")]
    NotDeclared(String, &'static str),
    /// A JSON body placement the operator has not approved for this adapter type.
    #[error("secret `{0}` may go into a request body only when the operator approves body placements for this adapter type (settings: [body_secrets])")]
    BodyNotApproved(String),
    /// Too short to be found in what comes back, so never sent in a body.
    #[error("secret `{0}` is too short to go into a request body (at least {min} characters)", min = super::MIN_BODY_SECRET_LEN)]
    TooShortForBody(String),
    /// A 1.0 adapter (no manifest) may not place secrets in a body at all.
    #[error("secret `{0}` may not go into a request body: the adapter declares no placements (a 1.0 adapter)")]
    BodyWithoutManifest(String),
}

/// A declared path matches the request's path itself, or its end after a `/` (a config
/// URL may carry a prefix: `https://host/odoo` + `/jsonrpc`).
fn path_matches(request: &str, declared: &str) -> bool {
    request == declared || (declared.starts_with('/') && request.ends_with(declared))
}

/// The placement rules of one run.
#[derive(Clone, Debug, Default)]
pub struct SecretPolicy {
    /// What the adapter declared; `None`: nothing (the 1.0 rule).
    pub manifest: Option<Manifest>,
    /// The operator approved JSON body placements for this adapter type.
    pub body_approved: bool,
    /// Extra origins (`scheme://host:port`) the operator lets each secret go to.
    pub other_origins: BTreeMap<String, Vec<String>>,
}

impl SecretPolicy {
    /// May the secret `name` (of length `len`) be filled into `slot` of a request to
    /// `origin`? `own` says whether `origin` is the config URL's.
    pub fn check(
        &self,
        name: &str,
        len: usize,
        slot: Slot<'_>,
        origin: &str,
        own: bool,
    ) -> Result<(), Refusal> {
        let allowed_there = own
            || self
                .other_origins
                .get(name)
                .is_some_and(|o| o.iter().any(|o| o == origin));
        if !allowed_there {
            return Err(Refusal::Origin(name.into()));
        }
        match slot {
            Slot::JsonBody { path, pointer } => {
                let Some(manifest) = &self.manifest else {
                    return Err(Refusal::BodyWithoutManifest(name.into()));
                };
                let declared = manifest.placements(name).iter().any(|p| {
                    matches!(p, Placement::JsonBody { path: pa, pointer: po } if path_matches(path, pa) && po == pointer)
                });
                if !declared || !own {
                    return Err(Refusal::NotDeclared(name.into(), "this request body"));
                }
                if !self.body_approved {
                    return Err(Refusal::BodyNotApproved(name.into()));
                }
                // A login identifies, it does not authenticate: exempt from the length rule.
                if len < super::MIN_BODY_SECRET_LEN && name != "credentials.username" {
                    return Err(Refusal::TooShortForBody(name.into()));
                }
                Ok(())
            }
            Slot::Header {
                name: header,
                bearer,
            } => {
                // A field named `header.<Name>` is declared for that header by its name.
                if name
                    .strip_prefix("header.")
                    .is_some_and(|h| h.eq_ignore_ascii_case(header))
                {
                    return Ok(());
                }
                let Some(manifest) = &self.manifest else {
                    return Ok(()); // the 1.0 rule: any header (host-owned ones are refused earlier)
                };
                let declared = manifest.placements(name).iter().any(|p| match p {
                    Placement::Header { name: h } => h.eq_ignore_ascii_case(header),
                    Placement::Bearer => bearer && header == "authorization",
                    _ => false,
                });
                declared
                    .then_some(())
                    .ok_or(Refusal::NotDeclared(name.into(), "this header"))
            }
            Slot::BasicAuth => {
                let Some(manifest) = &self.manifest else {
                    return Ok(());
                };
                manifest
                    .placements(name)
                    .contains(&Placement::BasicAuth)
                    .then_some(())
                    .ok_or(Refusal::NotDeclared(name.into(), "basic auth"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://spp.example.org:443";

    fn manifest(entries: &[(&str, Placement)]) -> Option<Manifest> {
        let mut m = Manifest::default();
        for (s, p) in entries {
            m.placements
                .entry(s.to_string())
                .or_default()
                .push(p.clone());
        }
        Some(m)
    }

    fn header(name: &str) -> Slot<'_> {
        Slot::Header {
            name,
            bearer: false,
        }
    }

    #[test]
    fn without_a_manifest_headers_and_basic_auth_to_the_own_origin_only() {
        let p = SecretPolicy::default();
        assert!(p
            .check("apiKey", 20, header("x-api-key"), OWN, true)
            .is_ok());
        assert!(p.check("password", 20, Slot::BasicAuth, OWN, true).is_ok());
        assert!(matches!(
            p.check(
                "apiKey",
                20,
                header("x-api-key"),
                "https://other:443",
                false
            ),
            Err(Refusal::Origin(_))
        ));
        let body = Slot::JsonBody {
            path: "/jsonrpc",
            pointer: "/params/args/2",
        };
        assert!(matches!(
            p.check("password", 20, body, OWN, true),
            Err(Refusal::BodyWithoutManifest(_))
        ));
    }

    #[test]
    fn with_a_manifest_only_declared_placements() {
        let p = SecretPolicy {
            manifest: manifest(&[
                (
                    "apiKey",
                    Placement::Header {
                        name: "x-api-key".into(),
                    },
                ),
                ("token", Placement::Bearer),
            ]),
            ..Default::default()
        };
        assert!(p
            .check("apiKey", 20, header("x-api-key"), OWN, true)
            .is_ok());
        assert!(p.check("apiKey", 20, header("x-other"), OWN, true).is_err());
        assert!(p.check("apiKey", 20, Slot::BasicAuth, OWN, true).is_err());
        let bearer = Slot::Header {
            name: "authorization",
            bearer: true,
        };
        assert!(p.check("token", 20, bearer, OWN, true).is_ok());
        assert!(
            p.check("token", 20, header("authorization"), OWN, true)
                .is_err(),
            "bearer means `Bearer <token>` only"
        );
        assert!(
            p.check("header.X-Auth", 20, header("x-auth"), OWN, true)
                .is_ok(),
            "declared by its name"
        );
    }

    #[test]
    fn a_json_body_placement_needs_the_exact_path_and_pointer_approval_and_length() {
        let decl = Placement::JsonBody {
            path: "/jsonrpc".into(),
            pointer: "/params/args/2".into(),
        };
        let mut p = SecretPolicy {
            manifest: manifest(&[("password", decl)]),
            ..Default::default()
        };
        let ok = Slot::JsonBody {
            path: "/jsonrpc",
            pointer: "/params/args/2",
        };
        assert!(matches!(
            p.check("password", 20, ok, OWN, true),
            Err(Refusal::BodyNotApproved(_))
        ));
        p.body_approved = true;
        assert!(p.check("password", 20, ok, OWN, true).is_ok());
        assert!(matches!(
            p.check("password", 5, ok, OWN, true),
            Err(Refusal::TooShortForBody(_))
        ));
        let elsewhere = Slot::JsonBody {
            path: "/jsonrpc",
            pointer: "/params/args/5/0/name",
        };
        assert!(
            p.check("password", 20, elsewhere, OWN, true).is_err(),
            "not into a record's field"
        );
        let other_path = Slot::JsonBody {
            path: "/web/dataset",
            pointer: "/params/args/2",
        };
        assert!(p.check("password", 20, other_path, OWN, true).is_err());
        let prefixed = Slot::JsonBody {
            path: "/odoo/jsonrpc",
            pointer: "/params/args/2",
        };
        assert!(
            p.check("password", 20, prefixed, OWN, true).is_ok(),
            "a config URL with a prefix"
        );
    }

    #[test]
    fn the_operator_may_let_one_secret_reach_another_origin() {
        let mut p = SecretPolicy::default();
        p.other_origins.insert(
            "collectionsToken".into(),
            vec!["https://app.openfn.org:443".into()],
        );
        assert!(p
            .check(
                "collectionsToken",
                20,
                header("authorization"),
                "https://app.openfn.org:443",
                false
            )
            .is_ok());
        assert!(p
            .check(
                "apiKey",
                20,
                header("x-api-key"),
                "https://app.openfn.org:443",
                false
            )
            .is_err());
    }
}
