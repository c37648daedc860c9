//! Which database a command works on: an explicitly named SQLite file must be in an existing
//! directory (only the default database's directory is created), and "not found" errors say
//! which database was searched.

use std::path::Path;

use super::failure::Failure;
use crate::store::StoreLocation;

/// Refuses an explicitly named SQLite database (`flag` says where it was named) whose directory
/// does not exist: a typo would otherwise create an empty database and quietly use it.
pub fn check_directory(flag: &str, raw: &Path) -> Result<(), Failure> {
    let StoreLocation::Sqlite(path) = StoreLocation::parse(raw) else {
        return Ok(());
    };
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.exists() {
        return Ok(());
    }
    Err(Failure {
        field: Some("db".into()),
        ..Failure::input(format!(
            "{flag} {}: the directory {} does not exist; create it first (only the default database's \
             directory is created)",
            path.display(),
            dir.display()
        ))
    })
}

/// How a database is named in messages: the SQLite path, or the PostgreSQL URL without its password.
pub fn shown(location: &StoreLocation) -> String {
    match location {
        StoreLocation::Sqlite(path) => path.display().to_string(),
        StoreLocation::Postgres(url) => {
            use secrecy::ExposeSecret;
            match reqwest::Url::parse(url.expose_secret()) {
                Ok(mut u) => {
                    let _ = u.set_password(None);
                    u.to_string()
                }
                Err(_) => "the PostgreSQL database".to_owned(),
            }
        }
    }
}

/// A "no incident ..." / "no plan ..." failure names the database it looked in.
pub fn name_in_not_found(mut f: Failure, database: &str) -> Failure {
    if f.error_code == "not_found" && (f.message.starts_with("no incident ") || f.message.starts_with("no plan ")) {
        f.message = match f.message.split_once(';') {
            Some((head, rest)) => format!("{head} in database {database};{rest}"),
            None => format!("{} in database {database}", f.message),
        };
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_database_other_failures_are_kept() {
        let f = Failure {
            error_code: "not_found",
            ..Failure::input("no plan plan-1; `incident-mcp plans` lists the plans")
        };
        assert_eq!(
            name_in_not_found(f, "/tmp/x.db").message,
            "no plan plan-1 in database /tmp/x.db; `incident-mcp plans` lists the plans"
        );
        let other = name_in_not_found(Failure::input("no plan here"), "/tmp/x.db");
        assert_eq!(other.message, "no plan here");
        let pg = StoreLocation::parse(Path::new("postgres://u:hunter2@db.example:5432/inc"));
        assert_eq!(shown(&pg), "postgres://u@db.example:5432/inc");
    }
}
