//! The OpenID provider settings: `RAPPORT_OIDC_ISSUER` and the rest for one provider, and
//! `[[oidc_providers]]` tables in rapport.toml for more, checked once at start.

use super::{setting_err, ConfigError, RawConfig};
use serde::{Deserialize, Serialize};

/// One more provider as written in rapport.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub name: String,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    #[serde(default = "default_first_sign_in")]
    pub on_first_sign_in: String,
}

fn default_scopes() -> String {
    "openid email profile".into()
}

fn default_first_sign_in() -> String {
    "create".into()
}

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

/// The providers the settings name: the one `RAPPORT_OIDC_ISSUER` names, then each
/// `[[oidc_providers]]` entry, in order (the sign-in page shows a button for each).
pub(super) fn check(raw: &RawConfig) -> Result<Vec<OidcSettings>, ConfigError> {
    let mut providers = Vec::new();
    if let Some(issuer) = given(&raw.oidc_issuer) {
        let client_id = given(&raw.oidc_client_id)
            .ok_or_else(|| setting_err("oidc_client_id", "is needed with RAPPORT_OIDC_ISSUER"))?;
        let client_secret = given(&raw.oidc_client_secret).ok_or_else(|| {
            setting_err("oidc_client_secret", "is needed with RAPPORT_OIDC_ISSUER")
        })?;
        let err = |key: &str, msg: String| setting_err(&format!("oidc_{key}"), msg);
        providers.push(provider(
            &err,
            issuer,
            client_id,
            client_secret,
            &raw.oidc_name,
            &raw.oidc_scopes,
            &raw.oidc_on_first_sign_in,
        )?);
    }
    for (n, p) in raw.oidc_providers.iter().enumerate() {
        let err = |key: &str, msg: String| {
            ConfigError(format!(
                "`{key}` of the [[oidc_providers]] entry {} in rapport.toml: {msg}",
                n + 1
            ))
        };
        providers.push(provider(
            &err,
            p.issuer.trim(),
            p.client_id.trim(),
            p.client_secret.trim(),
            &p.name,
            &p.scopes,
            &p.on_first_sign_in,
        )?);
    }
    let mut issuers: Vec<&str> = providers.iter().map(|p| p.issuer.as_str()).collect();
    issuers.sort_unstable();
    if issuers.windows(2).any(|w| w[0] == w[1]) {
        return Err(setting_err(
            "oidc_providers",
            "names an issuer twice; each provider once",
        ));
    }
    Ok(providers)
}

/// One provider's settings, checked; `err` names where a wrong one was written.
fn provider(
    err: &dyn Fn(&str, String) -> ConfigError,
    issuer: &str,
    client_id: &str,
    client_secret: &str,
    name: &str,
    scopes: &str,
    on_first_sign_in: &str,
) -> Result<OidcSettings, ConfigError> {
    let parsed = reqwest::Url::parse(issuer)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if parsed.is_none() {
        return Err(err(
            "issuer",
            format!("{issuer:?} must be the provider's issuer URL, such as https://id.example.org"),
        ));
    }
    if client_id.is_empty() || client_secret.is_empty() {
        return Err(err(
            "client_id",
            "a provider needs its client id and secret".into(),
        ));
    }
    let scopes: Vec<String> = scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(err("scopes", "must include openid".into()));
    }
    let on_first_sign_in = match on_first_sign_in.trim() {
        "create" => FirstSignIn::Create,
        "link" => FirstSignIn::Link,
        other => {
            return Err(err(
                "on_first_sign_in",
                format!("{other:?} must be create or link"),
            ))
        }
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(err("name", "must be 1 to 60 characters".into()));
    }
    Ok(OidcSettings {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
        name: name.to_owned(),
        scopes,
        on_first_sign_in,
    })
}
