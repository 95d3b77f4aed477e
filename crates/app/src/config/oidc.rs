//! The OpenID provider settings: `RAPPORT_OIDC_ISSUER` and the rest, checked once at start.

use super::{setting_err, ConfigError, RawConfig};

/// What happens when someone signs in through the provider for the first time and no member
/// carries their provider id yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSignIn {
    /// The member is created from the provider's claims (a verified email is needed), unless a
    /// member has that verified address already, who is linked.
    Create,
    /// Only a member who has that verified address (or was provisioned under the provider's id)
    /// is linked; anyone else is refused.
    Link,
}

/// One OpenID provider members may sign in with.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL, as the provider's discovery document and ID tokens name it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The sign-in button's label: "Sign in with <name>".
    pub name: String,
    pub scopes: Vec<String>,
    pub on_first_sign_in: FirstSignIn,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"..")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("on_first_sign_in", &self.on_first_sign_in)
            .finish()
    }
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The providers the settings name: none, or the one `RAPPORT_OIDC_ISSUER` names.
pub(super) fn check(raw: &RawConfig) -> Result<Vec<OidcSettings>, ConfigError> {
    let Some(issuer) = given(&raw.oidc_issuer) else {
        return Ok(Vec::new());
    };
    let parsed = reqwest::Url::parse(issuer)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if parsed.is_none() {
        return Err(setting_err(
            "oidc_issuer",
            format!("{issuer:?} must be the provider's issuer URL, such as https://id.example.org"),
        ));
    }
    let client_id = given(&raw.oidc_client_id)
        .ok_or_else(|| setting_err("oidc_client_id", "is needed with RAPPORT_OIDC_ISSUER"))?;
    let client_secret = given(&raw.oidc_client_secret)
        .ok_or_else(|| setting_err("oidc_client_secret", "is needed with RAPPORT_OIDC_ISSUER"))?;
    let scopes: Vec<String> = raw
        .oidc_scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(setting_err("oidc_scopes", "must include openid"));
    }
    let on_first_sign_in = match raw.oidc_on_first_sign_in.trim() {
        "create" => FirstSignIn::Create,
        "link" => FirstSignIn::Link,
        other => {
            return Err(setting_err(
                "oidc_on_first_sign_in",
                format!("{other:?} must be create or link"),
            ))
        }
    };
    let name = raw.oidc_name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(setting_err("oidc_name", "must be 1 to 60 characters"));
    }
    Ok(vec![OidcSettings {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
        name: name.to_owned(),
        scopes,
        on_first_sign_in,
    }])
}
