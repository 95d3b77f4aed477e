//! URLs as logs and error messages may show them. Database, SMTP and webhook URLs carry secrets in
//! their user information (`postgres://app:secret@db/...`) and query strings (`?password=`,
//! `?token=`): what is shown keeps the scheme, the user name, the host and the path, which is what
//! an operator needs to tell one endpoint from another, and nothing else.

/// `raw` with any password replaced by `***` and any query string or fragment by `?…`. Text that
/// is not a URL (no `://`) is shown as it is unless it has an `@`, where it could hide a password.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return if raw.contains('@') {
            "<redacted>".into()
        } else {
            raw.to_owned()
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let hidden = if path_end < tail.len() { "?…" } else { "" };
    format!("{scheme}://{authority}{}{hidden}", &tail[..path_end])
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_and_query_strings_never_show() {
        for (raw, shown) in [
            (
                "postgres://app:s3cret@db.internal:5432/rapport?sslmode=require&password=x",
                "postgres://app:***@db.internal:5432/rapport?…",
            ),
            (
                "smtps://mailer:hunter2@smtp.example",
                "smtps://mailer:***@smtp.example",
            ),
            (
                "https://hooks.example/in?token=abc#frag",
                "https://hooks.example/in?…",
            ),
            ("https://hooks.example/in", "https://hooks.example/in"),
            ("postgres://app@db/rapport", "postgres://app@db/rapport"),
            ("mysql:/x", "mysql:/x"),
            ("user:pw@host", "<redacted>"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }
}
