//! Where a secret may be filled in: the adapter's declared placements (its 1.1
//! `manifest`), the operator's approvals, and the host's fixed rules. One function
//! decides, for every slot a reference was found in.
//!
//! Fixed rules: a secret goes to the config's own origin only (unless the operator grants
//! it another allowed origin); never into a header that servers commonly log or forward
//! (`user-agent`, `referer`, `x-forwarded-*`…); into a header other than the usual
//! credential headers, or into a JSON body, only with the operator's approval for the
//! adapter type; into the username of basic auth only when it is a login.
//!
//! Over 400 lines: the placement rules are about 220; the rest are their unit tests (each
//! placement, each way around it).

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
    /// The username of basic auth.
    BasicAuthUser,
    /// The password of basic auth.
    BasicAuthPassword,
    /// A JSON body to `path`, as the whole string at `pointer`.
    JsonBody {
        /// The request's path, relative to the config URL's path.
        path: &'a str,
        /// Where in the JSON the reference is.
        pointer: &'a str,
    },
}

/// Headers that carry credentials by convention: a declared placement into one of these
/// needs no approval.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "private-token",
];

/// Headers servers commonly log, forward or show back: never a secret's place.
fn logged_header(name: &str) -> bool {
    matches!(
        name,
        "user-agent"
            | "referer"
            | "origin"
            | "forwarded"
            | "from"
            | "via"
            | "x-real-ip"
            | "x-request-id"
            | "x-correlation-id"
            | "content-type"
            | "accept"
            | "accept-language"
    ) || name.starts_with("x-forwarded-")
}

/// Whether a secret is a login (it may go into the username of basic auth).
fn is_login(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "credentials.username" || n == "username" || n == "user" || n == "login"
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
    /// A header servers log or forward.
    #[error("secret `{0}` may never go into a header that servers log or forward")]
    LoggedHeader(String),
    /// A password into the username of basic auth.
    #[error("secret `{0}` may go into the password of basic auth, not its username")]
    NotALogin(String),
    /// A placement the operator has not approved for this adapter type.
    #[error("secret `{0}` may go into {1} only when the operator approves this adapter type's placements (settings: [approve_placements])")]
    NotApproved(String, &'static str),
    /// Too short to be found in what comes back, so never sent in a body.
    #[error("secret `{0}` may not go into a request body (too short to be found in what comes back: at least {min} characters)", min = super::MIN_BODY_SECRET_LEN)]
    TooShortForBody(String),
    /// A 1.0 adapter (no manifest) may not place secrets in a body at all.
    #[error("secret `{0}` may not go into a request body: the adapter declares no placements (a 1.0 adapter)")]
    BodyWithoutManifest(String),
}

/// Whether an adapter declares placements the operator must approve: a JSON body, or a
/// header other than the usual credential headers.
pub fn needs_approval(manifest: &Manifest) -> bool {
    manifest.placements.iter().any(|(secret, places)| {
        places.iter().any(|p| match p {
            Placement::JsonBody { .. } => true,
            Placement::Header { name } => {
                !CREDENTIAL_HEADERS.contains(&name.as_str())
                    && !secret
                        .strip_prefix("header.")
                        .is_some_and(|h| h.eq_ignore_ascii_case(name))
            }
            Placement::BasicAuth | Placement::Bearer => false,
        })
    })
}

/// The placement rules of one run.
#[derive(Clone, Debug, Default)]
pub struct SecretPolicy {
    /// What the adapter declared; `None`: nothing (the 1.0 rule).
    pub manifest: Option<Manifest>,
    /// The operator approved this adapter type's placements that need approval (JSON
    /// bodies, headers other than the usual credential headers).
    pub approved: bool,
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
                    matches!(p, Placement::JsonBody { path: pa, pointer: po } if pa == path && po == pointer)
                });
                if !declared || !own {
                    return Err(Refusal::NotDeclared(name.into(), "this request body"));
                }
                if !self.approved {
                    return Err(Refusal::NotApproved(name.into(), "a request body"));
                }
                // A login identifies, it does not authenticate: exempt from the length rule.
                if len < super::MIN_BODY_SECRET_LEN && !is_login(name) {
                    return Err(Refusal::TooShortForBody(name.into()));
                }
                Ok(())
            }
            Slot::Header {
                name: header,
                bearer,
            } => {
                if logged_header(header) {
                    return Err(Refusal::LoggedHeader(name.into()));
                }
                // A field named `header.<Name>` is declared for that header by its name.
                let by_name = name
                    .strip_prefix("header.")
                    .is_some_and(|h| h.eq_ignore_ascii_case(header));
                let declared = by_name
                    || match &self.manifest {
                        None => true, // the 1.0 rule: any header not refused above
                        Some(manifest) => manifest.placements(name).iter().any(|p| match p {
                            Placement::Header { name: h } => h.eq_ignore_ascii_case(header),
                            Placement::Bearer => bearer && header == "authorization",
                            _ => false,
                        }),
                    };
                if !declared {
                    return Err(Refusal::NotDeclared(name.into(), "this header"));
                }
                let usual = CREDENTIAL_HEADERS.contains(&header);
                if !usual && !by_name && self.manifest.is_some() && !self.approved {
                    return Err(Refusal::NotApproved(
                        name.into(),
                        "a header other than the usual credential headers",
                    ));
                }
                Ok(())
            }
            Slot::BasicAuthUser | Slot::BasicAuthPassword => {
                if slot == Slot::BasicAuthUser && !is_login(name) {
                    return Err(Refusal::NotALogin(name.into()));
                }
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
        assert!(p
            .check("password", 20, Slot::BasicAuthPassword, OWN, true)
            .is_ok());
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
        assert!(matches!(
            p.check("apiKey", 20, header("user-agent"), OWN, true),
            Err(Refusal::LoggedHeader(_))
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
                (
                    "note",
                    Placement::Header {
                        name: "x-note".into(),
                    },
                ),
                (
                    "ua",
                    Placement::Header {
                        name: "user-agent".into(),
                    },
                ),
            ]),
            ..Default::default()
        };
        assert!(p
            .check("apiKey", 20, header("x-api-key"), OWN, true)
            .is_ok());
        assert!(p.check("apiKey", 20, header("x-other"), OWN, true).is_err());
        assert!(p
            .check("apiKey", 20, Slot::BasicAuthPassword, OWN, true)
            .is_err());
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
        assert!(
            matches!(
                p.check("note", 20, header("x-note"), OWN, true),
                Err(Refusal::NotApproved(..))
            ),
            "an unusual header needs approval"
        );
        assert!(
            matches!(
                p.check("ua", 20, header("user-agent"), OWN, true),
                Err(Refusal::LoggedHeader(_))
            ),
            "never, declared or not"
        );
    }

    #[test]
    fn a_password_never_goes_into_the_username_of_basic_auth() {
        let p = SecretPolicy {
            manifest: manifest(&[
                ("password", Placement::BasicAuth),
                ("credentials.username", Placement::BasicAuth),
            ]),
            ..Default::default()
        };
        assert!(matches!(
            p.check("password", 20, Slot::BasicAuthUser, OWN, true),
            Err(Refusal::NotALogin(_))
        ));
        assert!(p
            .check("credentials.username", 5, Slot::BasicAuthUser, OWN, true)
            .is_ok());
        assert!(matches!(
            SecretPolicy::default().check("apiKey", 20, Slot::BasicAuthUser, OWN, true),
            Err(Refusal::NotALogin(_))
        ));
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
            Err(Refusal::NotApproved(..))
        ));
        p.approved = true;
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
            path: "/web/dataset/call_kw/x/jsonrpc",
            pointer: "/params/args/2",
        };
        assert!(
            p.check("password", 20, other_path, OWN, true).is_err(),
            "the path exactly, not a suffix"
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

    #[test]
    fn every_login_name_may_go_into_the_username_of_basic_auth() {
        let p = SecretPolicy::default();
        for login in ["credentials.username", "username", "user", "login", "User"] {
            assert!(
                p.check(login, 5, Slot::BasicAuthUser, OWN, true).is_ok(),
                "{login}"
            );
        }
        for other in ["password", "users", "credentials.password"] {
            assert!(
                matches!(
                    p.check(other, 20, Slot::BasicAuthUser, OWN, true),
                    Err(Refusal::NotALogin(_))
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn approval_is_needed_for_bodies_and_unusual_headers_only() {
        let header = |name: &str| Placement::Header { name: name.into() };
        let needs = |entries: &[(&str, Placement)]| needs_approval(&manifest(entries).unwrap());
        assert!(!needs(&[]));
        assert!(!needs(&[
            ("password", Placement::BasicAuth),
            ("token", Placement::Bearer),
            ("apiKey", header("x-api-key")),
            ("header.X-Custom", header("x-custom")),
        ]));
        let body = Placement::JsonBody {
            path: "/jsonrpc".into(),
            pointer: "/params/args/2".into(),
        };
        assert!(needs(&[
            ("password", Placement::BasicAuth),
            ("password", body)
        ]));
        assert!(needs(&[("note", header("x-note"))]), "an unusual header");
        assert!(
            needs(&[("header.X-Custom", header("x-other"))]),
            "a header other than the one the field is named for"
        );
    }

    #[test]
    fn a_body_secret_of_exactly_the_minimum_length_is_allowed() {
        let decl = Placement::JsonBody {
            path: "/jsonrpc".into(),
            pointer: "/params/args/2".into(),
        };
        let p = SecretPolicy {
            manifest: manifest(&[("password", decl.clone()), ("login", decl)]),
            approved: true,
            ..Default::default()
        };
        let slot = Slot::JsonBody {
            path: "/jsonrpc",
            pointer: "/params/args/2",
        };
        let min = crate::secrets::MIN_BODY_SECRET_LEN;
        assert_eq!(min, 8);
        assert!(p.check("password", min, slot, OWN, true).is_ok());
        assert!(matches!(
            p.check("password", min - 1, slot, OWN, true),
            Err(Refusal::TooShortForBody(_))
        ));
        assert!(
            p.check("login", 3, slot, OWN, true).is_ok(),
            "a login is exempt"
        );
    }
}
